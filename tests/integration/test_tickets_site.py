"""Hidden-danger tickets in a real `gateway run`: a key area's camera killed past its grace time opens one
ticket, told to the first contact list (a webhook and a DingTalk group bot, whose receiver checks the
format and the signature); nobody acknowledges, so the second list is told (a webhook and e-mail to a
real SMTP server with STARTTLS and login); a person acknowledges by the API; the camera back for the
recovery time closes the ticket; killed again soon after, the same ticket reopens. Real GStreamer RTSP
server, real HTTP and SMTP servers, all on 127.0.0.1."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support import botreceiver
from tests.support.botreceiver import BotReceiver
from tests.support.gateway import Site, camera, child_env
from tests.support.ports import free_port
from tests.support.smtpserver import SmtpServer, self_signed
from tests.support.waiting import wait_until
from tests.support.webhookreceiver import WebhookReceiver

pytestmark = pytest.mark.integration


def events(receiver: WebhookReceiver) -> list[str]:
    with receiver.lock:
        return [m["data"]["event"] for m in receiver.accepted if m["kind"] == "ticket"]


def test_a_camera_down_is_a_ticket_told_escalated_acknowledged_and_closed(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo]
) -> None:
    password, hook_secret = secrets.token_urlsafe(10), secrets.token_urlsafe(16)
    server = RtspServerProcess([("/lab", sim_clips["hd720_h264"])], username="cam", password=password)
    server.start()
    duty, boss = WebhookReceiver(hook_secret), WebhookReceiver(hook_secret)
    bot = BotReceiver(free_port()).start()
    cert, key = self_signed(tmp_path)
    mail_password = secrets.token_urlsafe(12)
    smtp = SmtpServer(free_port(), cert=cert, key=key, username="gateway", password=mail_password).start()
    with duty, boss:
        try:
            env = child_env(
                IT_PW=password,
                IT_HOOK=hook_secret,
                IT_BOT_URL=bot.urls()["dingtalk"],
                IT_BOT_SECRET=botreceiver.DINGTALK_SECRET,
                IT_MAIL_PW=mail_password,
            )
            site = Site(tmp_path, gateway_storage_url, [camera("lab1", server.url("/lab"))], env)
            config: dict[str, Any] = yaml.safe_load(site.path.read_text())
            config["zones"].append({"id": "lab", "name": "化学实验室", "kind": "key_area"})
            config["cameras"][0]["zones"] = ["lab"]
            hook = {"secret": {"env": "IT_HOOK"}, "kinds": ["ticket"]}
            config["uplinks"] = {
                "webhooks": [
                    {"id": "duty", "url": f"http://127.0.0.1:{duty.port}/t", **hook},
                    {"id": "boss", "url": f"http://127.0.0.1:{boss.port}/t", **hook},
                ],
                "bots": [
                    {
                        "id": "duty-bot",
                        "kind": "dingtalk",
                        "url": {"env": "IT_BOT_URL"},
                        "secret": {"env": "IT_BOT_SECRET"},
                    }
                ],
                "email": [
                    {
                        "id": "boss-mail",
                        "host": "127.0.0.1",
                        "port": smtp.port,
                        "username": "gateway",
                        "password": {"env": "IT_MAIL_PW"},
                        "from": "视频网关 <gateway@school.example>",
                        "to": ["chief@school.example"],
                        "ca_file": str(cert),
                    }
                ],
            }
            config["tickets"] = {
                "grace_s": {"offline": {"default": 60, "key_area": 2}},
                "recovery_s": 3,
                "reopen_within_s": 120,
                "acknowledge_within_min": 0.1,  # 6 s
                "escalation": ["duty", "boss"],
            }
            config["notify"] = {
                "contacts": {
                    "duty": {"destinations": ["duty", "duty-bot"]},
                    "boss": {"destinations": ["boss", "boss-mail"]},
                },
                "link_base": "http://gateway.example",
            }
            site.path.write_text(yaml.safe_dump(config, allow_unicode=True))
            site.proc.start()
            try:
                site.wait_for({"lab1": "online"})

                def api(method: str, path: str, **kw: Any) -> httpx.Response:
                    headers = {"Authorization": f"Bearer {site.token}"}
                    return httpx.request(method, f"{site.proc.base}{path}", headers=headers, timeout=10, **kw)

                server.stop()
                killed = time.monotonic()
                wait_until("the ticket told to the duty list", lambda: events(duty) == ["opened"], 30, interval=0.2)
                opened_after = time.monotonic() - killed
                (ticket,) = api("GET", "/api/v1/tickets?state=open").json()["tickets"]
                assert (ticket["camera_id"], ticket["fault"], ticket["zone_kind"]) == ("lab1", "offline", "key_area")
                assert ticket["acknowledged_by"] is None and ticket["level"] == 0
                evidence = api("GET", f"/api/v1/tickets/{ticket['id']}").json()["evidence"]
                states = [i["state"] for i in evidence["timeline"]]
                assert "online" in states and states[-1] == "offline", evidence["timeline"]
                assert evidence["picture_now"] == "/api/v1/cameras/lab1/snapshot"
                with duty.lock:
                    told = duty.accepted[0]
                assert told["data"]["camera_name"] == "lab1" and told["data"]["zone_name"] == "化学实验室"
                assert told["data"]["link"] == f"http://gateway.example/tickets?id={ticket['id']}"
                assert events(boss) == []
                wait_until("the boss told after 6 s unacknowledged", lambda: events(boss) == ["escalated"], 20)
                # The same changes reached the bot (its format and signature checked) and the mailbox.
                (ding,) = wait_until("the DingTalk message", lambda: bot.of("dingtalk"), 10)
                assert "【隐患】" in ding["markdown"]["title"] and "化学实验室" in ding["markdown"]["text"]
                assert bot.refused == []
                (mail,) = wait_until("the escalation e-mail", lambda: smtp.received(), 20)
                assert "【升级】" in str(mail["Subject"]) and mail["To"] == "chief@school.example"
                acked = api("POST", f"/api/v1/tickets/{ticket['id']}/ack", json={"note": "换摄像机电源"})
                assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "it-admin"
                wait_until("the acknowledgement told", lambda: events(boss) == ["escalated", "acknowledged"], 10)
                assert api("POST", "/api/v1/tickets/999/ack", json={}).status_code == 404

                server.start()
                wait_until("the ticket closed", lambda: "closed" in events(boss), 40, interval=0.2)
                closed = api("GET", f"/api/v1/tickets/{ticket['id']}").json()
                assert closed["state"] == "closed" and closed["repair_s"] > 0
                assert closed["acknowledged_by"] == "it-admin" and closed["note"] == "换摄像机电源"

                server.stop()  # down again soon after: the same ticket, reopened, told from the first list
                wait_until("the ticket reopened", lambda: events(duty)[-1:] == ["reopened"], 30, interval=0.2)
                all_tickets = api("GET", "/api/v1/tickets").json()["tickets"]
                assert [(t["id"], t["state"], t["reopened"]) for t in all_tickets] == [(ticket["id"], "open", 1)]
                entries = api("GET", "/api/v1/audit?action=ticket_ack").json()["entries"]
                assert [e["actor"] for e in entries] == ["it-admin"]
            finally:
                assert site.proc.stop() == 0, site.proc.log()[-3000:]
            log = site.proc.log()
            assert "Traceback" not in log and password not in log and hook_secret not in log
            assert mail_password not in log and botreceiver.DINGTALK_TOKEN not in log
            assert "hidden danger: camera lab1 offline" in log
            assert opened_after < 20, opened_after
        finally:
            server.stop()
            bot.stop()
            smtp.stop()
