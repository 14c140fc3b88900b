"""People's channels: their config (uplinks.bots, uplinks.email) with key-path errors, quiet hours, the
two queues of a channel in a real outbox on SQLite (a fake channel stands for the bot), and the mails."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.notify.mail import build_mail
from gateway.config import GatewayConfig, config_from_bytes, parse_config
from gateway.config.outbox import QuietHours
from gateway.errors import ConfigError, ConfigIssue
from gateway.outbox import notify
from gateway.outbox.destinations import build_outbox
from gateway.outbox.mail import EmailChannel
from gateway.outbox.notify import ChannelQueue, channel_routes, quiet_until
from gateway.outbox.service import DeliveryReport, Outbox
from gateway.outbox.store import NewMessage, OutboxMessage, OutboxStore
from gateway.storage.db import Database
from tests.support.ticketpayload import ticket_message
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.usefixtures("english")

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEYED_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def site(**uplinks: Any) -> dict[str, Any]:
    return {
        "site": {"id": "s1", "name": "第一中学", "unit": {"name": "Unit", "headcount": 10}},
        "cameras": [
            {"id": "cam1", "name": "东门", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}},
            {"id": "cam2", "name": "操场", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}},
        ],
        "uplinks": uplinks,
    }


def issues(data: dict[str, Any], *, check_secrets: bool = False) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, check_secrets=check_secrets)
    return info.value.issues


def bot(**changes: Any) -> dict[str, Any]:
    return {"id": "wecom-duty", "kind": "wecom", "url": {"env": "WECOM_DUTY_URL"}, **changes}


def mailbox(**changes: Any) -> dict[str, Any]:
    return {
        "id": "mail-duty",
        "host": "smtp.school.example",
        "username": "gateway",
        "password": {"env": "SMTP_PASSWORD"},
        "from": "视频网关 <gateway@school.example>",
        "to": ["duty@school.example"],
        **changes,
    }


# -- config --------------------------------------------------------------------------------------------


def test_channels_parse_with_their_defaults() -> None:
    config = parse_config(
        site(
            bots=[
                bot(quiet_hours={"start": "22:00", "end": "07:00"}, cameras=["cam1"]),
                bot(id="ding", kind="dingtalk", secret={"file": "/run/secrets/ding"}),
            ],
            email=[mailbox(), mailbox(id="relay", host="127.0.0.1", security="none", username=None, password=None)],
        ),
        check_secrets=False,
    )
    wecom, ding = config.uplinks.bots
    assert wecom.kinds == ["ticket"] and wecom.quiet_hours == QuietHours(start="22:00", end="07:00")
    assert ding.secret is not None and ding.max_per_minute is None
    mail, relay = config.uplinks.email
    assert (mail.smtp_port(), relay.smtp_port()) == (587, 25)
    assert mail.sender == "视频网关 <gateway@school.example>"
    assert [d.id for d in config.uplinks.destinations()][-4:] == ["wecom-duty", "ding", "mail-duty", "relay"]


def test_a_bot_url_written_in_the_file_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(site(bots=[bot(url=KEYED_URL)]), check_secrets=False)
    [issue] = info.value.issues
    assert issue.path == "uplinks.bots[0].url"
    assert "secret reference" in issue.message and "{env: NAME}" in issue.message
    assert issue.value is None
    assert "693a91f6" not in str(info.value)
    # Any secret written where its reference belongs is refused the same way, never shown.
    [issue] = issues(site(bots=[bot(kind="dingtalk", secret="SECabcdef0123456789")]))
    assert issue.path == "uplinks.bots[0].secret" and issue.value is None


def test_config_errors_name_their_key_paths() -> None:
    found = issues(
        site(
            bots=[
                bot(kind="slack"),
                bot(id="b2", quiet_hours={"start": "25:00", "end": "7pm"}),
                bot(id="b3", quiet_hours={"start": "08:00", "end": "08:00"}),
                bot(id="b4", kinds=["event"]),
            ],
            email=[mailbox(to=["not-an-address"], **{"from": "nobody"}), mailbox(id="m2", security="tls", to=[])],
        )
    )
    assert sorted(i.path for i in found) == [
        "uplinks.bots[0].kind",
        "uplinks.bots[1].quiet_hours.end",
        "uplinks.bots[1].quiet_hours.start",
        "uplinks.bots[2].quiet_hours",
        "uplinks.bots[3].kinds[0]",
        "uplinks.email[0].from",
        "uplinks.email[0].to[0]",
        "uplinks.email[1].to",
    ]
    by_path = {i.path: i for i in found}
    assert "HH:MM" in by_path["uplinks.bots[1].quiet_hours.start"].message
    assert "same time" in by_path["uplinks.bots[2].quiet_hours"].message


def test_cross_checks_of_channels() -> None:
    found = issues(
        site(
            webhooks=[{"id": "duty", "url": "http://127.0.0.1:9/h", "secret": {"env": "X"}}],
            bots=[bot(id="duty"), bot(id="b2", secret={"env": "S"}, cameras=["cam9"])],
            email=[
                mailbox(id="b2"),
                mailbox(id="m3", security="none"),
                mailbox(id="m4", password=None),
                mailbox(id="m5", security="none", username=None, password=None, ca_file="/etc/ssl/ca.pem"),
            ],
        )
    )
    assert [(i.path, i.message) for i in found] == [
        ("uplinks.bots[0].id", "another uplink (MQTT, webhook, GA/T 1400, bot or e-mail) has this id"),
        ("uplinks.bots[1].cameras[0]", "no camera with this id"),
        ("uplinks.bots[1].secret", "a WeCom bot has no signing secret: its key is in the URL"),
        ("uplinks.email[0].id", "another uplink (MQTT, webhook, GA/T 1400, bot or e-mail) has this id"),
        (
            "uplinks.email[1].security",
            "a login over an unencrypted connection would send the password in clear: use starttls or tls",
        ),
        ("uplinks.email[2].password", "give both username and password, or neither"),
        ("uplinks.email[3].ca_file", "a CA file is given but security is none"),
    ]


def test_secrets_that_cannot_be_read_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WECOM_DUTY_URL", raising=False)
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    found = issues(
        site(bots=[bot(kind="feishu", secret={"file": str(tmp_path / "none")})], email=[mailbox()]), check_secrets=True
    )
    assert [i.path for i in found] == [
        "uplinks.bots[0].url.env",
        "uplinks.bots[0].secret.file",
        "uplinks.email[0].password.env",
    ]
    monkeypatch.setenv("WECOM_DUTY_URL", "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-secret-key")
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    [issue] = issues(site(bots=[bot()], email=[mailbox()]), check_secrets=True)
    assert (issue.path, issue.message) == ("uplinks.bots[0].url.env", "does not hold an http(s) webhook URL")
    assert "abc-secret-key" not in str(issue)


def test_quiet_hours_written_unquoted_in_yaml() -> None:
    # YAML 1.1 reads 22:00 as 1320 (base 60); 07:00 stays text.
    yaml_text = """
site: {id: s1, name: S, unit: {name: U, headcount: 1}}
uplinks:
  bots:
    - id: ding
      kind: dingtalk
      url: {env: DING_URL}
      quiet_hours: {start: 22:00, end: 07:00}
"""
    config = config_from_bytes(yaml_text.encode(), check_secrets=False)
    assert config.uplinks.bots[0].quiet_hours == QuietHours(start="22:00", end="07:00")
    with pytest.raises(ConfigError) as info:
        config_from_bytes(yaml_text.replace("22:00", "24:00").encode(), check_secrets=False)
    [issue] = info.value.issues
    assert issue.path == "uplinks.bots[0].quiet_hours.start"
    assert issue.message.startswith("24:00 is not a time of day")


# -- quiet hours and routes ------------------------------------------------------------------------------


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


def test_quiet_until() -> None:
    night = QuietHours(start="22:00", end="07:00")
    assert quiet_until(night, at("2026-12-07 21:59:59"), SHANGHAI) is None
    assert quiet_until(night, at("2026-12-07 22:00"), SHANGHAI) == at("2026-12-08 07:00")
    assert quiet_until(night, at("2026-12-08 03:10"), SHANGHAI) == at("2026-12-08 07:00")
    assert quiet_until(night, at("2026-12-08 07:00"), SHANGHAI) is None
    noon = QuietHours(start="12:00", end="13:30")
    assert quiet_until(noon, at("2026-12-07 12:45"), SHANGHAI) == at("2026-12-07 13:30")
    assert quiet_until(noon, at("2026-12-07 13:30"), SHANGHAI) is None
    assert quiet_until(None, at("2026-12-07 23:00"), SHANGHAI) is None


def test_routes_split_a_channel_s_tickets_by_change() -> None:
    main, held = channel_routes("wecom-duty", ["ticket"], None, QuietHours(start="22:00", end="07:00"))
    assert held.destination == "wecom-duty:held"
    changes = {"opened": False, "escalated": False, "reopened": False, "closed": True, "acknowledged": True}
    for event, goes_to_held in changes.items():
        message = ticket_message(event=event)
        assert (main.wants(message), held.wants(message)) == (not goes_to_held, goes_to_held), event
    # The audience names the channel, never its queues.
    for_other = NewMessage(kind="ticket", camera_id="cam1", payload={"event": "closed"}, audience=frozenset({"x"}))
    for_us = NewMessage(
        kind="ticket", camera_id="cam1", payload={"event": "closed"}, audience=frozenset({"wecom-duty"})
    )
    assert not held.wants(for_other) and held.wants(for_us)
    assert not main.wants(NewMessage(kind="state", camera_id="cam1", payload={}))
    # Without quiet hours the main queue takes every change.
    main, held = channel_routes("wecom-duty", ["ticket"], ["cam2"], None)
    assert main.wants(ticket_message(camera="cam2", event="closed"))
    assert not held.wants(ticket_message(camera="cam2", event="closed"))
    assert not main.wants(ticket_message(camera="cam1"))


def test_build_outbox_gives_each_channel_two_queues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_DUTY_URL", "http://127.0.0.1:9/cgi-bin/webhook/send?key=k")
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    data = site(bots=[bot()], email=[mailbox()])
    data["storage"] = {"url": f"sqlite:///{tmp_path}/g.db"}
    config = parse_config(data)
    with Database(config.storage.url) as db:
        outbox = build_outbox(config, db)
    assert [(d.id, d.type) for d in outbox.destinations] == [
        ("wecom-duty", "wecom"),
        ("wecom-duty:held", "wecom"),
        ("mail-duty", "email"),
        ("mail-duty:held", "email"),
    ]
    assert [r.destination for r in outbox.routes] == [d.id for d in outbox.destinations]


# -- the two queues in a real outbox ---------------------------------------------------------------------


class FakeChannel:
    """Stands for a bot: records what it was handed, fails the ticket changes named in `failing`."""

    type = "fake"
    zone = SHANGHAI

    def __init__(self, quiet: QuietHours | None) -> None:
        self.id = "wecom-duty"
        self.quiet = quiet
        self.connected = True
        self.received: list[str] = []
        self.failing: set[str] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {}

    async def send(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        for m in messages:
            change = f"{m.payload['ticket_id']}:{m.payload['event']}"
            if change in self.failing:
                report.failure = "bot down"
                return report
            self.received.append(change)
            report.delivered.append(m.id)
        return report


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(f"sqlite:///{tmp_path}/o.db") as database:
        yield database


def queued_outbox(db: Database, channel: FakeChannel, now: list[float]) -> Outbox:
    data = site(bots=[bot()], outbox={"retry_initial_s": 0.05, "retry_max_s": 0.2})
    config: GatewayConfig = parse_config(data, check_secrets=False)
    store = OutboxStore(db, "s1")

    def head(dest: str) -> int | None:
        batch = store.next_batch(dest, 1)
        return batch[0].id if batch else None

    queues = [ChannelQueue(channel, held=h, head_of=head, clock=lambda: now[0]) for h in (False, True)]
    return Outbox(config, store, queues, list(channel_routes(channel.id, ["ticket"], None, channel.quiet)))


async def test_quiet_hours_hold_closed_tickets_and_let_dangers_through(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "HOLD_POLL_S", 0.05)
    channel = FakeChannel(QuietHours(start="22:00", end="07:00"))
    now = [at("2026-12-07 23:00")]
    outbox = queued_outbox(db, channel, now)
    await outbox.start()
    try:
        outbox.publish([ticket_message(ticket_id=1), ticket_message(ticket_id=1, event="closed")])
        outbox.publish([ticket_message(ticket_id=2, event="acknowledged"), ticket_message(ticket_id=3)])
        await wait_until_async("the dangers told", lambda: channel.received == ["1:opened", "3:opened"], 5)
        await asyncio.sleep(0.3)
        assert channel.received == ["1:opened", "3:opened"]  # held, not dropped
        held = next(d for d in outbox.status()["destinations"][0]["subscriptions"])
        assert held["id"] == "wecom-duty:held" and held["held_until"] == at("2026-12-08 07:00")
        now[0] = at("2026-12-08 07:00")
        await wait_until_async("the held ones told", lambda: len(channel.received) == 4, 5)
        assert channel.received[2:] == ["1:closed", "2:acknowledged"]
    finally:
        await outbox.stop()


async def test_outside_quiet_hours_a_ticket_s_changes_keep_their_order(db: Database) -> None:
    channel = FakeChannel(QuietHours(start="22:00", end="07:00"))
    channel.failing = {"1:opened"}
    outbox = queued_outbox(db, channel, [at("2026-12-07 12:00")])
    await outbox.start()
    try:
        outbox.publish([ticket_message(ticket_id=1), ticket_message(ticket_id=1, event="closed")])
        await wait_until_async("the opening retried", lambda: outbox.status()["destinations"][0]["retrying"] or None, 5)
        await asyncio.sleep(0.3)
        assert channel.received == []  # the closing waits behind its opening
        channel.failing = set()
        await wait_until_async("both told", lambda: len(channel.received) == 2, 5)
        assert channel.received == ["1:opened", "1:closed"]
    finally:
        await outbox.stop()


# -- mails -----------------------------------------------------------------------------------------------


def test_a_ticket_mail(tmp_path: Path) -> None:
    config = parse_config(site(email=[mailbox()]), check_secrets=False)
    channel = EmailChannel(config.uplinks.email[0], password=None, timezone="Asia/Shanghai")
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
    message = OutboxMessage(
        id=1,
        msg_id="s1:ticket:7:opened:0:0",
        kind="ticket",
        camera_id="cam1",
        created_at=1796607300.0,
        expires_at=None,
        event_id=None,
        payload=ticket_message(picture_b64=base64.b64encode(jpeg).decode()).payload,
    )
    raw = channel.mail(message).as_bytes()
    assert b"\xe4" not in raw.split(b"\r\n\r\n")[0]  # headers are 7-bit: RFC 2047 encoded words
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "【隐患】东门 1 号摄像机 离线"
    assert parsed["To"] == "duty@school.example"
    assert parsed["X-Gateway-Message-Id"] == "s1:ticket:7:opened:0:0"
    again = email.message_from_bytes(channel.mail(message).as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == again["Message-ID"]  # the same on every resend
    assert parsed["Date"].datetime == datetime.fromtimestamp(1796607300.0, SHANGHAI)
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and "隐患：离线（连接被拒绝）" in plain.get_content()
    assert html is not None and "cid:picture." in html.get_content()
    [picture] = [p for p in parsed.walk() if p.get_content_type() == "image/jpeg"]
    assert picture.get_content() == jpeg
    assert picture["Content-ID"].strip("<>") in html.get_content()


def test_a_picture_without_html_is_attached() -> None:
    mail = build_mail(
        sender="a@b.example",
        to=["c@d.example"],
        subject="主题",
        text="正文",
        html=None,
        picture=b"\xff\xd8\xff",
        message_id="<x@b.example>",
        date=datetime(2026, 12, 7, tzinfo=SHANGHAI),
    )
    assert [p.get_content_type() for p in mail.walk()] == ["multipart/mixed", "text/plain", "image/jpeg"]
