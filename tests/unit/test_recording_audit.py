"""The recording audit's arithmetic (gateway/recordings/audit.py) and the recordings config."""

from __future__ import annotations

import copy
import json
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.common.redact import with_credentials
from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.health.uptime import HistoryReader
from gateway.i18n import using
from gateway.recordings.audit import audit_days, day_bounds, gaps_in, merged
from gateway.recordings.service import RecordingAudit
from gateway.recordings.sources import Found, RecordingsUnavailableError
from gateway.recordings.store import Check, RecordingStore
from gateway.reports.coverage import ReportPeriod, build_report
from gateway.reports.render import render
from gateway.storage.db import Database
from gateway.web.charts import recordings_bar
from tests.support.configs import MINIMAL

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A playback URL with a password in it, which the config must refuse (made up per run).
WITH_CREDENTIALS = with_credentials("rtsp://nvr/x?s={start}&e={end}", "u", secrets.token_urlsafe(6))
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz: ZoneInfo = SHANGHAI) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def test_spans_are_merged_sorted_and_empty_ones_dropped() -> None:
    assert merged([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]


def test_gaps_are_what_the_spans_leave_uncovered_including_the_edges() -> None:
    assert gaps_in([(2, 4), (6, 8)], 0, 10) == [(0, 2), (4, 6), (8, 10)]
    assert gaps_in([(0, 10)], 0, 10) == []
    assert gaps_in([], 0, 10) == [(0, 10)]


def test_a_day_with_a_two_hour_gap() -> None:
    start, end = day_bounds(date(2026, 12, 4), SHANGHAI)
    spans = [(start, at("2026-12-04T10:00")), (at("2026-12-04T12:00"), end)]
    (day,) = audit_days(spans, start, end, SHANGHAI, now=end + 3600)
    assert day.day == date(2026, 12, 4)
    assert day.gaps == ((at("2026-12-04T10:00"), at("2026-12-04T12:00")),)
    assert day.recorded_s == 22 * 3600
    assert day.completeness_percent == pytest.approx(100 * 22 / 24)


def test_spans_across_midnight_are_split_between_days_and_a_missing_day_is_all_gap() -> None:
    start, _ = day_bounds(date(2026, 12, 1), SHANGHAI)
    _, end = day_bounds(date(2026, 12, 3), SHANGHAI)
    spans = [(at("2026-12-01T20:00"), at("2026-12-02T02:00"))]
    days = audit_days(spans, start, end, SHANGHAI, now=end)
    assert [d.day for d in days] == [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]
    assert [d.recorded_s for d in days] == [4 * 3600, 2 * 3600, 0]
    assert days[2].gaps == ((days[2].start, days[2].end),) and days[2].completeness_percent == 0


def test_today_is_audited_up_to_now_only() -> None:
    start, end = day_bounds(date(2026, 12, 7), SHANGHAI)
    now = at("2026-12-07T06:00")
    (day,) = audit_days([(start, now - 600)], start, end, SHANGHAI, now=now)
    assert day.end == now and day.audited_s == 6 * 3600
    assert day.gaps == ((now - 600, now),)


def test_a_daylight_saving_day_has_23_hours() -> None:
    start, end = day_bounds(date(2026, 3, 29), BERLIN)  # clocks go forward at 02:00
    assert end - start == 23 * 3600
    (day,) = audit_days([(start, end)], start, end, BERLIN, now=end)
    assert day.completeness_percent == 100


def _config(**camera: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data["cameras"][0].update(camera)
    data["recorders"] = [{"id": "nvr1", "onvif": {"host": "127.0.0.1", "port": 8000}}]
    return data


def test_a_camera_on_an_nvr_channel_is_valid() -> None:
    config = parse_config(_config(recordings={"recorder": "nvr1", "channel": "CH1"}), check_secrets=False)
    rec = config.cameras[0].recordings
    assert rec is not None and rec.recorder == "nvr1" and rec.channel == "CH1"
    assert config.policy.recordings.max_gap_s == 300


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(
    ("recordings", "path", "words"),
    [
        ({"recorder": "nvr2", "channel": "CH1"}, "cameras[0].recordings.recorder", "no recorder"),
        ({"recorder": "nvr1"}, "cameras[0].recordings", "needs 'channel'"),
        ({"recorder": "nvr1", "channel": "1", "onvif": True}, "cameras[0].recordings", "exactly one"),
        ({"onvif": True}, "cameras[0].recordings.onvif", "source.onvif"),
        ({"playback_url": "rtsp://nvr/tracks/101?starttime={start:%Y%m%dT%H%M%SZ}"}, "cameras[0].recordings", "{end}"),
        (
            {"playback_url": "rtsp://u:" + secrets.token_urlsafe(6) + "@nvr/x?s={start}&e={end}"},
            "cameras[0].recordings",
            "credentials",
        ),
        ({"playback_url": "rtsp://nvr/x?s={start}&e={end}&c={channel}"}, "cameras[0].recordings", "only {start}"),
    ],
)
def test_bad_recordings_config_names_the_key_path(recordings: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(recordings=recordings), check_secrets=False)
    issues = [(i.path, i.message) for i in err.value.issues]
    assert any(p == path and words in m for p, m in issues), issues


class FakeSource:
    """A recording device that holds ``spans`` (epoch seconds) and records what it was asked."""

    description = "fake recorder, channel CH1"

    def __init__(self, spans: list[tuple[float, float]], fail: str | None = None) -> None:
        self.spans, self.fail = spans, fail
        self.asked: list[tuple[float, float]] = []

    async def search(self, start: float, end: float) -> Found:
        self.asked.append((start, end))
        if self.fail:
            raise RecordingsUnavailableError(self.fail)
        inside = [(max(a, start), min(b, end)) for a, b in self.spans if b > start and a < end]
        return Found("rec-1", self.spans[0][0], self.spans[-1][1], inside, queries=3)


def _audit(tmp_path: Path, source: FakeSource, now: list[float]) -> tuple[RecordingAudit, Database]:
    data = _config(recordings={"recorder": "nvr1", "channel": "CH1"})
    data["site"]["timezone"] = "Asia/Shanghai"
    data["policy"] = {"retention_days": 3}
    config = parse_config(data, check_secrets=False)
    db = Database(f"sqlite:///{tmp_path / 'gw.db'}").open()
    return RecordingAudit(config, RecordingStore(db), {"cam1": source}, clock=lambda: now[0]), db


async def test_the_first_check_covers_the_retention_period_and_later_ones_resume_at_the_last_day(
    tmp_path: Path,
) -> None:
    now = at("2026-12-07T06:00")
    day3_start = day_bounds(date(2026, 12, 3), SHANGHAI)[0]
    spans = [(day3_start + 7200, at("2026-12-05T10:00")), (at("2026-12-05T12:00"), now)]
    source = FakeSource(spans)
    clock = [now]
    audit, db = _audit(tmp_path, source, clock)
    try:
        check, _ = await audit.check("cam1")
        assert source.asked == [(day_bounds(date(2026, 12, 4), SHANGHAI)[0], now)]  # now - 3 days, from midnight
        assert check.ok and check.queries == 3 and check.recording_token == "rec-1"
        stored = audit.store.days("cam1", date(2026, 12, 1), date(2026, 12, 7))
        assert [d.day for d in stored] == [date(2026, 12, d) for d in (4, 5, 6, 7)]
        assert [round(d.completeness_percent, 2) for d in stored] == [100, round(100 * 22 / 24, 2), 100, 100]
        assert stored[1].gaps == ((at("2026-12-05T10:00"), at("2026-12-05T12:00")),)
        # The next check starts at today's midnight: today is audited again, earlier days stay.
        audit._clock = lambda: now + 3600
        await audit.check("cam1")
        assert source.asked[-1] == (day_bounds(date(2026, 12, 7), SHANGHAI)[0], now + 3600)
        today = audit.store.days("cam1", date(2026, 12, 7), date(2026, 12, 7))[0]
        assert today.end == now + 3600 and today.completeness_percent == pytest.approx(100 * 6 / 7)
    finally:
        db.close()


async def test_a_device_that_fails_is_recorded_with_its_reason_and_no_days(tmp_path: Path) -> None:
    now = at("2026-12-07T06:00")
    audit, db = _audit(tmp_path, FakeSource([(0, 1)], fail="recorder nvr1: connection refused"), [now])
    try:
        check, days = await audit.check("cam1")
        assert not check.ok and days == [] and "connection refused" in (check.error or "")
        assert audit.store.latest_check("cam1") == check
        assert audit.store.days("cam1", date(2026, 12, 1), date(2026, 12, 7)) == []
    finally:
        db.close()


def test_the_report_judges_the_recordings_the_audit_found(tmp_path: Path) -> None:
    """Completeness per day, long gaps and the measured retention become findings; a playback URL is a
    warning (not verifiable); every format carries the section."""
    data = _config(recordings={"recorder": "nvr1", "channel": "CH1"})
    data["cameras"].append(
        {
            "id": "cam2",
            "name": "Yard",
            "source": {"rtsp": "rtsp://cam.example:8554/b"},
            "zones": ["gate"],
            "recordings": {"playback_url": "rtsp://nvr/tracks/201?s={start:%Y%m%dT%H%M%SZ}&e={end:%Y%m%dT%H%M%SZ}"},
        }
    )
    data["site"]["timezone"] = "Asia/Shanghai"
    data["policy"] = {"retention_days": 30}
    config = parse_config(data, check_secrets=False)
    start, end = day_bounds(date(2026, 12, 5), SHANGHAI)
    spans = [(start, at("2026-12-05T10:00")), (at("2026-12-05T12:00"), end)]
    with Database(f"sqlite:///{tmp_path / 'gw.db'}") as db:
        store = RecordingStore(db)
        days = audit_days(spans, start, end, SHANGHAI, now=end + 60)
        store.save(Check("cam1", end + 60, True, None, "nvr1", "rec-1", start - 10 * 86400, end, 3), days)
        report = build_report(config, HistoryReader(db), ReportPeriod(start, end, "day", end + 60), recordings=store)
    cam1 = next(c for c in report.cameras if c.id == "cam1")
    assert cam1.recordings is not None and cam1.recordings.verifiable
    assert cam1.recordings.completeness_percent == pytest.approx(100 * 22 / 24, abs=1e-3)
    assert cam1.recordings.days_below == (("2026-12-05", pytest.approx(100 * 22 / 24, abs=1e-3)),)
    assert [(g.start, g.end) for g in cam1.recordings.long_gaps] == [(at("2026-12-05T10:00"), at("2026-12-05T12:00"))]
    # Measured at the search, a day after the oldest recording turned ten days old: eleven days.
    assert cam1.retention_days == pytest.approx(11.0, abs=0.01)
    messages = [f.message for f in cam1.findings if f.severity == "fail"]
    assert any("91.67 % on 2026-12-05" in m for m in messages), messages
    assert any("1 gap(s)" in m and "the longest 2:00:00" in m for m in messages), messages
    # Judged once, from the audit's measurement (the camera reported none of its own here).
    assert [m for m in messages if "reach back" in m] == ["recordings reach back 11.0 days (policy: 30 days)"], messages
    assert not cam1.passed and not report.passed
    cam2 = next(c for c in report.cameras if c.id == "cam2")
    assert cam2.recordings is not None and not cam2.recordings.verifiable
    assert any("cannot be verified" in f.message and f.severity == "warn" for f in cam2.findings)
    as_json = json.loads(render(report, "json").body)
    section = next(c for c in as_json["cameras"] if c["id"] == "cam1")["recordings"]
    assert section["days"] == 1 and len(section["long_gaps"]) == 1
    as_csv = render(report, "csv", "en").body.decode("utf-8-sig")  # the record ids of the English CSV
    assert "recording_gap,cam1" in as_csv and "recordings,cam2" in as_csv
    html = render(report, "html").body.decode()
    assert 'data-recordings-camera="cam1"' in html and 'data-recording-gaps="cam1"' in html
    assert render(report, "pdf").body.startswith(b"%PDF")


def test_the_camera_pages_recordings_bar_shows_recorded_missing_and_unaudited_time() -> None:
    start, end = day_bounds(date(2026, 12, 5), SHANGHAI)
    gap = (at("2026-12-05T10:00"), at("2026-12-05T12:00"))
    # Audited from 06:00 only: the first six hours are "not audited", never "recorded".
    bar = recordings_bar([(at("2026-12-05T06:00"), end, [gap])], start, end, SHANGHAI)
    assert bar.seconds == {"unknown": 6 * 3600, "online": 16 * 3600, "offline": 2 * 3600}
    assert bar.uptime_percent == pytest.approx(100 * 16 / 18, abs=0.01)
    titles = [seg.title for seg in bar.segments]
    assert titles[0].endswith("：未核查") and titles[2].endswith("：未录像"), titles
    with using("en"):
        titles = [
            seg.title for seg in recordings_bar([(at("2026-12-05T06:00"), end, [gap])], start, end, SHANGHAI).segments
        ]
    assert titles[0].endswith(": not audited") and titles[2].endswith(": not recorded"), titles
    assert [seg.state for seg in bar.segments] == ["unknown", "online", "offline", "online"]
