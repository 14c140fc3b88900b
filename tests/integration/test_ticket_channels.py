"""Ticket notifications through the real outbox (SQLite) to group bots played by a real HTTP server on
127.0.0.1 (tests/support/botreceiver.py: each bot's format, DingTalk's and Feishu's signatures and
timestamp windows) and to real SMTP servers (aiosmtpd, STARTTLS and implicit TLS, AUTH required).

Built with build_outbox from a parsed config, as a gateway builds it: the URLs with their keys and
the secrets come from environment variables."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.outbox.destinations import build_outbox
from gateway.outbox.pictures import attach_picture
from gateway.outbox.service import Outbox
from gateway.outbox.store import NewMessage
from gateway.storage.db import Database
from tests.support import botreceiver
from tests.support.botreceiver import BotReceiver
from tests.support.ports import free_port
from tests.support.smtpserver import SmtpServer, self_signed
from tests.support.ticketpayload import AT, SINCE, ticket_message
from tests.support.waiting import wait_until_async

pytestmark = [
    pytest.mark.integration,
    # aiosmtpd warns of AUTH without STARTTLS on its implicit TLS listener, which is TLS from the start.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

SMTP_USER = "gateway"
SMTP_PASSWORD = "smtp-Pass-8d1f"  # made up for this test, like the bots' keys
RECIPIENTS = ["duty@school.example", "chief@school.example"]
BOTS = ("wecom-duty", "ding-chief", "feishu-ops")
SECRETS = (
    botreceiver.WECOM_KEY,
    botreceiver.DINGTALK_TOKEN,
    botreceiver.DINGTALK_SECRET,
    botreceiver.FEISHU_HOOK,
    botreceiver.FEISHU_SECRET,
    SMTP_PASSWORD,
)
MAILBOXES = ("mail-duty", "mail-chief")


def picture() -> bytes:
    frame = np.zeros((90, 160, 3), np.uint8)
    cv2.rectangle(frame, (20, 20), (140, 70), (0, 0, 255), -1)
    ok, buf = cv2.imencode(".jpg", frame)
    assert ok
    return bytes(buf)


class Site:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.receiver = BotReceiver(free_port())
        self.cert, key = self_signed(tmp_path)
        self.smtp = SmtpServer(free_port(), cert=self.cert, key=key, username=SMTP_USER, password=SMTP_PASSWORD)
        self.smtps = SmtpServer(
            free_port(), cert=self.cert, key=key, username=SMTP_USER, password=SMTP_PASSWORD, implicit_tls=True
        )
        urls = self.receiver.urls()
        for name, value in {
            "WECOM_URL": urls["wecom"],
            "DING_URL": urls["dingtalk"],
            "DING_SECRET": botreceiver.DINGTALK_SECRET,
            "FEISHU_URL": urls["feishu"],
            "FEISHU_SECRET": botreceiver.FEISHU_SECRET,
            "SMTP_PASSWORD": SMTP_PASSWORD,
        }.items():
            monkeypatch.setenv(name, value)
        self.storage = f"sqlite:///{tmp_path}/gateway.db"

    def config(self) -> GatewayConfig:
        mail: dict[str, Any] = {
            "host": "127.0.0.1",
            "username": SMTP_USER,
            "password": {"env": "SMTP_PASSWORD"},
            "from": "视频网关 <gateway@school.example>",
            "to": RECIPIENTS,
            "ca_file": str(self.cert),
            "timeout_s": 5,
        }
        return parse_config(
            {
                "site": {"id": "s1", "name": "第一中学", "unit": {"name": "第一中学", "headcount": 100}},
                "cameras": [{"id": "cam1", "name": "东门 1 号摄像机", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}}],
                "storage": {"url": self.storage},
                "uplinks": {
                    "bots": [
                        {"id": "wecom-duty", "kind": "wecom", "url": {"env": "WECOM_URL"}, "max_per_minute": 100},
                        {
                            "id": "ding-chief",
                            "kind": "dingtalk",
                            "url": {"env": "DING_URL"},
                            "secret": {"env": "DING_SECRET"},
                            "max_per_minute": 100,
                        },
                        {
                            "id": "feishu-ops",
                            "kind": "feishu",
                            "url": {"env": "FEISHU_URL"},
                            "secret": {"env": "FEISHU_SECRET"},
                        },
                    ],
                    "email": [
                        {"id": "mail-duty", "port": self.smtp.port, "security": "starttls", **mail},
                        {"id": "mail-chief", "port": self.smtps.port, "security": "tls", **mail},
                    ],
                    "outbox": {"retry_initial_s": 0.1, "retry_max_s": 0.4},
                },
            }
        )

    def status(self, outbox: Outbox) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for d in outbox.status()["destinations"]}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    s = Site(tmp_path, monkeypatch)
    yield s
    s.receiver.stop()
    s.smtp.stop()
    s.smtps.stop()


@pytest.fixture
async def running(site: Site) -> AsyncIterator[Outbox]:
    with Database(site.storage) as db:
        outbox = build_outbox(site.config(), db)
        await outbox.start()
        try:
            yield outbox
        finally:
            await outbox.stop()


def changes(*specs: tuple[int, str]) -> list[NewMessage]:
    out = []
    for ticket_id, event in specs:
        extra: dict[str, Any] = {}
        if event == "escalated":
            extra = {"level": 1, "contact_list": "security-chief"}
        elif event == "acknowledged":
            extra = {"acknowledged_by": "李明", "acknowledged_at": AT, "note": "已派人检查"}
        elif event == "closed":
            extra = {"repair_s": AT - SINCE, "acknowledged_by": "李明"}
        out.append(ticket_message(ticket_id=ticket_id, event=event, **extra))
    return out


async def settled(site: Site, outbox: Outbox) -> dict[str, dict[str, Any]]:
    """The status once every channel's backlog is empty (a message reaches its receiver a moment
    before its delivery is recorded)."""

    async def empty() -> dict[str, dict[str, Any]] | None:
        await outbox.refresh_status()
        status = site.status(outbox)
        return status if all(status[d]["backlog"] == 0 for d in (*BOTS, *MAILBOXES)) else None

    for _ in range(250):
        if (status := await empty()) is not None:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"backlog left: {site.status(outbox)}")


PREFIXES = {"【隐患】": "opened", "【已确认】": "acknowledged", "【已整改】": "closed", "【升级】": "escalated"}


def told(bodies: list[dict[str, Any]], kind: str) -> list[str]:
    """ "<ticket>:<change>" of each bot message, read from its title and its link."""
    out = []
    for body in bodies:
        if kind == "wecom":
            text = body["markdown"]["content"]
        elif kind == "dingtalk":
            text = body["markdown"]["text"]
        else:
            text = body["card"]["header"]["title"]["content"] + body["card"]["elements"][1]["actions"][0]["url"]
        change = next(v for k, v in PREFIXES.items() if k in text)
        out.append(f"{text.rsplit('?id=', 1)[1].split(')')[0]}:{change}")
    return out


def delivered_everywhere(site: Site, count: int, wecom_posts: int) -> bool:
    r = site.receiver
    return (
        len(r.of("wecom")) == wecom_posts
        and len(r.of("dingtalk")) == count
        and len(r.of("feishu")) == count
        and len(site.smtp.received()) == count
        and len(site.smtps.received()) == count
    )


async def test_each_channel_gets_each_ticket_change_once_in_its_format(site: Site, running: Outbox) -> None:
    site.receiver.start()
    site.smtp.start()
    site.smtps.start()
    jpeg = picture()
    opened, escalated, acknowledged, closed = changes(
        (1, "opened"), (1, "escalated"), (2, "acknowledged"), (1, "closed")
    )
    opened = NewMessage(**{**opened.__dict__, "payload": attach_picture(opened.payload, jpeg)})
    running.publish([opened, escalated, acknowledged, closed])
    await wait_until_async("4 changes at every channel", lambda: delivered_everywhere(site, 4, 5) or None, 10)
    r = site.receiver
    assert r.refused == []
    titles = [
        "【隐患】东门 1 号摄像机 离线",
        "【升级】东门 1 号摄像机 离线",
        "【已确认】东门 1 号摄像机 离线",
        "【已整改】东门 1 号摄像机 离线",
    ]
    # WeCom: markdown, and the picture (base64 + md5, checked by the receiver) right after the opening.
    wecom = r.of("wecom")
    assert [b["msgtype"] for b in wecom] == ["markdown", "image", "markdown", "markdown", "markdown"]
    assert all(t in b["markdown"]["content"] for t, b in zip(titles, [wecom[0], *wecom[2:]], strict=True))
    assert '<font color="warning">' in wecom[0]["markdown"]["content"]
    assert "[查看隐患工单](https://gateway.school.example/tickets?id=1)" in wecom[0]["markdown"]["content"]
    # DingTalk: markdown with its title (signature and timestamp checked by the receiver).
    assert [b["markdown"]["title"] for b in r.of("dingtalk")] == titles
    assert "- **通知对象**：security-chief（第2级）" in r.of("dingtalk")[1]["markdown"]["text"]
    # Feishu: a card with a coloured header and a button to the ticket.
    cards = [b["card"] for b in r.of("feishu")]
    assert [c["header"]["title"]["content"] for c in cards] == titles
    assert [c["header"]["template"] for c in cards] == ["red", "orange", "blue", "green"]
    assert cards[0]["elements"][1]["actions"][0]["url"] == "https://gateway.school.example/tickets?id=1"
    # E-mail over STARTTLS and over implicit TLS, both after a login.
    for server in (site.smtp, site.smtps):
        mails = server.received()
        assert [m["Subject"] for m in mails] == titles
        assert all(m["To"] == ", ".join(RECIPIENTS) for m in mails)
        assert server.envelopes[0] == ("gateway@school.example", RECIPIENTS)
        assert server.logins and all(ok for _user, ok in server.logins)
        first = mails[0]
        html = first.get_body(("html",))
        assert html is not None and "【隐患】东门 1 号摄像机 离线" in html.get_content()
        [inline] = [p for p in first.walk() if p.get_content_type() == "image/jpeg"]
        assert inline.get_content() == jpeg
        assert inline["Content-ID"].strip("<>") in html.get_content()
        text = first.get_body(("plain",))
        assert text is not None and "隐患：离线（连接被拒绝）" in text.get_content()
    # Everything confirmed and recorded: no backlog, nothing retried.
    status = await settled(site, running)
    shown = json.dumps(running.status())
    for secret in SECRETS:
        assert secret not in shown
    for dest in (*BOTS, *MAILBOXES):
        assert status[dest]["backlog"] == 0 and status[dest]["delivered"] == 4, status[dest]
        assert status[dest]["connected"] and status[dest]["last_error"] is None
        [held] = status[dest]["subscriptions"]
        assert held["id"] == f"{dest}:held" and held["backlog"] == 0


async def test_nothing_is_lost_or_duplicated_while_bots_and_mail_are_down(site: Site, running: Outbox) -> None:
    r = site.receiver
    r.mode.update({"wecom": "rate_limit", "dingtalk": "error500", "feishu": "rate_limit"})
    r.start()  # the SMTP servers are not started: connection refused
    first = changes((1, "opened"), (2, "opened"), (1, "acknowledged"))
    running.publish(first)

    def refusing() -> bool:
        answered = {k: [c for c in v if c != 0] for k, v in r.answered.items()}
        return all(len(codes) >= 2 for codes in answered.values())

    await wait_until_async("every bot asked again after refusing", lambda: refusing() or None, 10)
    status = site.status(running)
    assert (
        "errcode 45009" in status["wecom-duty"]["last_error"] and "rate limited" in status["wecom-duty"]["last_error"]
    )
    assert "HTTP 500" in status["ding-chief"]["last_error"]
    assert "code 11232" in status["feishu-ops"]["last_error"]
    assert "cannot reach SMTP server 127.0.0.1" in status["mail-duty"]["last_error"]
    assert all(status[d]["retrying"] for d in (*BOTS, *MAILBOXES))
    assert status["wecom-duty"]["rate_limited"] >= 2
    # Now the bots' server goes away altogether, and more dangers come.
    r.stop()
    running.publish(changes((3, "opened"), (2, "closed")))
    await wait_until_async(
        "the bots unreachable",
        lambda: all("cannot reach" in (site.status(running)[d]["last_error"] or "") for d in BOTS) or None,
        10,
    )
    assert r.of("wecom") == [] and site.smtp.received() == []
    # Everything comes back: each change arrives once, in order.
    r.mode.update({"wecom": "ok", "dingtalk": "ok", "feishu": "ok"})
    r.start()
    site.smtp.start()
    site.smtps.start()
    await wait_until_async("5 changes at every channel", lambda: delivered_everywhere(site, 5, 5) or None, 15)
    expected = ["1:opened", "2:opened", "1:acknowledged", "3:opened", "2:closed"]
    assert told(r.of("wecom"), "wecom") == expected
    assert told(r.of("dingtalk"), "dingtalk") == expected
    assert told(r.of("feishu"), "feishu") == expected
    for server in (site.smtp, site.smtps):
        ids = [m["X-Gateway-Message-Id"] for m in server.received()]
        assert ids == [f"s1:ticket:{e}:0:0" for e in expected]
    assert r.refused == []
    await settled(site, running)


async def test_a_refused_signature_or_login_is_reported_and_the_message_kept(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("DING_SECRET", "SEC-not-the-bot-s-secret")
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-Password-1")
    site.receiver.start()
    site.smtp.start()
    with Database(site.storage) as db:
        outbox = build_outbox(site.config(), db)
        await outbox.start()
        try:
            outbox.publish(changes((1, "opened")))
            await wait_until_async(
                "the signature refused twice",
                lambda: site.receiver.refused.count(("dingtalk", "sign")) >= 2 or None,
                10,
            )
            await wait_until_async("wecom told", lambda: len(site.receiver.of("wecom")) == 1 or None, 10)
            await wait_until_async("the login refused", lambda: len(site.smtp.logins) >= 2 or None, 10)
            await outbox.refresh_status()
            status = site.status(outbox)
            ding = status["ding-chief"]
            assert "DingTalk bot answered errcode 310000" in ding["last_error"]
            assert "check the bot's URL and secret" in ding["last_error"]
            assert ding["retrying"] and ding["backlog"] == 1 and ding["rejected"] == 0
            mail = status["mail-duty"]
            assert "refused the login of 'gateway'" in mail["last_error"] and mail["backlog"] == 1
            assert "wrong-Password-1" not in mail["last_error"]
            logged = caplog.text
            assert "ding-chief: the DingTalk bot answered errcode 310000" in logged
            assert "mail-duty: SMTP server 127.0.0.1" in logged
            # No key, secret or password appears in the log or the status.
            shown = logged + json.dumps(outbox.status())
            assert not [s for s in (*SECRETS, "wrong-Password-1", "SEC-not-the-bot-s-secret") if s in shown]
        finally:
            await outbox.stop()
