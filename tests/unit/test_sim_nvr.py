"""The simulated NVR: its recording store on disk, its ONVIF Profile G answers, and the replay timeline.

The SOAP answers are read with the standard library's ElementTree: these tests check the simulator
against the ONVIF messages, not the gateway's client (tests of adapters/onvif do that).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree as ET

import av
import pytest

from sim import rtsp_server
from sim.nvr import NvrDeviceServer, recording_token
from sim.recordings import (
    SEGMENT_NAME,
    Gap,
    RecordingStore,
    make_recordings,
    merge_spans,
    segment_name,
    segments_on_disk,
    spans_on_disk,
)

NOW = datetime(2026, 12, 7, 2, 40, 12, tzinfo=UTC)
TODAY = datetime(2026, 12, 7, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
CHANNELS = ("ch1", "ch2", "ch3")
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tt": "http://www.onvif.org/ver10/schema",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "trp": "http://www.onvif.org/ver10/replay/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
}
ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tse="http://www.onvif.org/ver10/search/wsdl" xmlns:trp="http://www.onvif.org/ver10/replay/wsdl" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body>{}</s:Body></s:Envelope>'
)


def at(day: datetime, hours: int, minutes: int = 0) -> datetime:
    return day + timedelta(hours=hours, minutes=minutes)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RecordingStore:
    return make_recordings(tmp_path_factory.mktemp("nvr"), CHANNELS, days=4, now=NOW)


# --- the store on disk -------------------------------------------------------------------------------


def test_segment_names_carry_start_and_span() -> None:
    assert segment_name(datetime(2026, 12, 4, tzinfo=UTC), 3600) == "20261204T000000Z_3600s.mkv"
    assert SEGMENT_NAME.match("20261204T103000Z_1800s.mkv")
    assert not SEGMENT_NAME.match("20261204T103000Z_1800s.mkv.part")
    with pytest.raises(ValueError, match="naive"):
        segment_name(datetime(2026, 12, 4), 60)


def test_the_store_has_the_deliberate_gaps(store: RecordingStore) -> None:
    start = TODAY - timedelta(days=3)
    assert spans_on_disk(store.root, "ch1") == [(start, at(YESTERDAY, 10, 30)), (at(YESTERDAY, 12, 30), NOW)]
    assert spans_on_disk(store.root, "ch2") == [(start, TODAY - timedelta(days=2)), (YESTERDAY, NOW)]
    assert spans_on_disk(store.root, "ch3") == [(start, NOW)]
    assert {c: spans_on_disk(store.root, c) for c in CHANNELS} == store.spans


def test_segments_are_cut_on_the_hour_and_at_the_gaps(store: RecordingStore) -> None:
    names = {s.path.name for s in segments_on_disk(store.root, "ch1")}
    assert "20261206T100000Z_1800s.mkv" in names  # recording stopped at 10:30
    assert "20261206T123000Z_1800s.mkv" in names  # and came back at 12:30
    assert not any(n.startswith("20261206T11") for n in names)
    assert "20261207T020000Z_2412s.mkv" in names  # the hour in progress, up to NOW
    ch2 = {s.path.name for s in segments_on_disk(store.root, "ch2")}
    assert not any(n.startswith("20261205") for n in ch2)  # the whole day missing
    assert len(segments_on_disk(store.root, "ch3")) == 3 * 24 + 3


def test_segment_files_are_one_small_real_h264_clip(store: RecordingStore) -> None:
    segments = segments_on_disk(store.root, "ch3")
    inodes = {os.stat(s.path).st_ino for s in segments}
    assert inodes == {os.stat(store.clip).st_ino}  # links, not copies: a few hundred kB for days
    assert store.clip.stat().st_size < 2_000_000
    with av.open(str(segments[0].path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 360)
        packets = [p for p in container.demux(video) if p.size]
    assert 80 <= len(packets) <= 200  # 8-20 s at 10 fps
    assert packets[0].is_keyframe and sum(p.is_keyframe for p in packets) == len(packets) // 10


def test_a_missing_file_is_a_gap_and_other_files_are_ignored(tmp_path: Path, store: RecordingStore) -> None:
    folder = tmp_path / "chx"
    folder.mkdir()
    for start, seconds in ((at(TODAY, 0), 3600), (at(TODAY, 1), 3600), (at(TODAY, 3), 600)):
        (folder / segment_name(start, seconds)).write_bytes(b"")
    (folder / "20261207T050000Z_600s.mkv.part").write_bytes(b"")
    (folder / "index.json").write_text("{}")
    assert spans_on_disk(tmp_path, "chx") == [(at(TODAY, 0), at(TODAY, 2)), (at(TODAY, 3), at(TODAY, 3, 10))]
    assert spans_on_disk(tmp_path, "nothing") == []
    assert merge_spans([(at(TODAY, 2), at(TODAY, 3)), (at(TODAY, 0), at(TODAY, 2, 30))]) == [
        (at(TODAY, 0), at(TODAY, 3))
    ]


def test_explicit_gaps_replace_the_default_ones(tmp_path: Path, store: RecordingStore) -> None:
    gaps = [Gap("a", at(TODAY, 0, 15), at(TODAY, 0, 45))]
    made = make_recordings(tmp_path, ("a", "b"), days=1, gaps=gaps, now=at(TODAY, 1), clip_dir=store.clip.parent)
    assert made.spans == {
        "a": [(at(TODAY, 0), at(TODAY, 0, 15)), (at(TODAY, 0, 45), at(TODAY, 1))],
        "b": [(TODAY, at(TODAY, 1))],
    }
    assert spans_on_disk(tmp_path, "a") == made.spans["a"]
    with pytest.raises(ValueError, match="unknown channels"):
        make_recordings(tmp_path, ("a",), gaps=[Gap("z", TODAY, at(TODAY, 1))], now=NOW, clip_dir=store.clip.parent)


def test_the_replay_server_reads_the_same_names(store: RecordingStore) -> None:
    assert rtsp_server.SEGMENT_NAME.pattern == SEGMENT_NAME.pattern
    listed = rtsp_server.list_segments(str(store.root / "ch1"))
    ours = segments_on_disk(store.root, "ch1")
    ntp = datetime(1900, 1, 1, tzinfo=UTC)
    assert [(ntp + timedelta(microseconds=s.start_ns // 1000), s.seconds) for s in listed] == [
        (s.start, s.seconds) for s in ours
    ]


# --- the replay timeline (sim/rtsp_server.py, without GStreamer) --------------------------------------


def _ntp(moment: datetime) -> int:
    return round((moment - datetime(1900, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000_000


def _timeline(spans: list[tuple[datetime, int]]) -> rtsp_server.ReplayTimeline:
    clip = rtsp_server.ClipFrames(tuple(i % 10 == 0 for i in range(100)), Fraction(10))
    segments = [rtsp_server.StoredSegment(_ntp(start), seconds, "clip") for start, seconds in spans]
    return rtsp_server.ReplayTimeline(segments, lambda _file: clip)


def test_replay_starts_at_the_keyframe_before_the_time_asked() -> None:
    timeline = _timeline([(at(TODAY, 0), 3600)])
    assert timeline.seek(_ntp(at(TODAY, 0, 5)) + 730_000_000)  # 00:05:00.73
    first = timeline.next_frame()
    assert first is not None and first.keyframe and first.discont
    assert first.pts_ns == _ntp(at(TODAY, 0, 5))  # keyframes every second
    second = timeline.next_frame()
    assert second is not None and second.pts_ns == first.pts_ns + 100_000_000 and not second.discont


def test_replay_skips_gaps_and_ends_with_the_recordings() -> None:
    timeline = _timeline([(at(TODAY, 0), 2), (at(TODAY, 0) + timedelta(seconds=2), 1), (at(TODAY, 1), 1)])
    assert timeline.seek(_ntp(at(TODAY, 0)))
    frames = []
    while (frame := timeline.next_frame()) is not None:
        frames.append(frame)
    assert len(frames) == 40
    assert [f.discont for f in frames].count(True) == 2  # the start, then the gap (not the touching files)
    assert frames[30].discont and frames[30].pts_ns == _ntp(at(TODAY, 1)) and frames[30].keyframe
    assert frames[29].pts_ns + frames[29].duration_ns == _ntp(at(TODAY, 0)) + 3_000_000_000
    assert timeline.seek(_ntp(at(TODAY, 0, 30)))  # in the gap: the next recorded frame
    later = timeline.next_frame()
    assert later is not None and later.pts_ns == _ntp(at(TODAY, 1))
    assert not timeline.seek(_ntp(at(TODAY, 2)))
    assert timeline.next_frame() is None


def test_a_replay_request_needs_something_recorded_in_its_span() -> None:
    segments = [rtsp_server.StoredSegment(_ntp(at(TODAY, 1)), 3600, "clip")]
    request = rtsp_server.ReplayRequest
    assert rtsp_server.has_recording(segments, request())
    assert rtsp_server.has_recording(segments, request(_ntp(at(TODAY, 0)), _ntp(at(TODAY, 1, 1))))
    assert not rtsp_server.has_recording(segments, request(_ntp(at(TODAY, 0)), _ntp(at(TODAY, 1))))
    assert not rtsp_server.has_recording(segments, request(_ntp(at(TODAY, 2))))
    assert not rtsp_server.has_recording([], request())


def test_vendor_style_replay_urls() -> None:
    request = rtsp_server.parse_replay_query("starttime=20261206T102957Z&endtime=20261206T103000Z&scale=2")
    assert request.start_ns == _ntp(datetime(2026, 12, 6, 10, 29, 57, tzinfo=UTC))
    assert request.end_ns == request.start_ns + 3_000_000_000 and request.scale == 2.0
    assert rtsp_server.parse_replay_query(None) == rtsp_server.ReplayRequest()
    for bad in ("starttime=yesterday", "scale=-1", "starttime=20261206T103000Z&endtime=20261206T102957Z"):
        with pytest.raises(ValueError):
            rtsp_server.parse_replay_query(bad)


# --- the NVR's SOAP answers --------------------------------------------------------------------------


@pytest.fixture
def nvr(store: RecordingStore) -> Iterator[NvrDeviceServer]:
    server = NvrDeviceServer(
        store.root, CHANNELS, "admin", "pw", replay_base="rtsp://127.0.0.1:8554", auth="none", now=lambda: NOW
    )
    with server:
        yield server


def call(nvr: NvrDeviceServer, body: str, *, status: int = 200) -> ET.Element:
    request = urllib.request.Request(
        f"http://127.0.0.1:{nvr.port}/onvif/search_service",
        ENVELOPE.format(body).encode(),
        {"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            got, data = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        got, data = error.code, error.read()
    assert got == status, data
    return ET.fromstring(data)


def text(el: ET.Element, path: str) -> str:
    found = el.find(path, NS)
    assert found is not None and found.text is not None, path
    return found.text


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def find_recordings(nvr: NvrDeviceServer, scope: str = "") -> str:
    body = f"<tse:FindRecordings>{scope}<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindRecordings>"
    return text(call(nvr, body), ".//tse:SearchToken")


def recording_results(nvr: NvrDeviceServer, token: str, max_results: int | None = None) -> ET.Element:
    limit = "" if max_results is None else f"<tse:MaxResults>{max_results}</tse:MaxResults>"
    body = (
        f"<tse:GetRecordingSearchResults><tse:SearchToken>{token}</tse:SearchToken>{limit}"
        "</tse:GetRecordingSearchResults>"
    )
    found = call(nvr, body).find(".//tse:ResultList", NS)
    assert found is not None
    return found


def test_get_services_offers_search_and_replay(nvr: NvrDeviceServer) -> None:
    reply = call(nvr, "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>")
    namespaces = {e.text for e in reply.iterfind(".//tds:Namespace", NS)}
    assert {NS["tse"], NS["trp"], "http://www.onvif.org/ver10/recording/wsdl"} <= namespaces
    assert text(call(nvr, "<tds:GetDeviceInformation/>"), ".//tds:Manufacturer") == "SimNVR"


def test_find_recordings_pages_one_recording_per_channel(nvr: NvrDeviceServer, store: RecordingStore) -> None:
    token = find_recordings(nvr)
    first = recording_results(nvr, token, 2)
    assert text(first, "tt:SearchState") == "Searching"
    second = recording_results(nvr, token, 2)
    assert text(second, "tt:SearchState") == "Completed"
    infos = first.findall("tt:RecordingInformation", NS) + second.findall("tt:RecordingInformation", NS)
    assert [text(i, "tt:Source/tt:SourceId") for i in infos] == list(CHANNELS)
    for info, channel in zip(infos, CHANNELS, strict=True):
        spans = spans_on_disk(store.root, channel)
        assert text(info, "tt:RecordingToken") == recording_token(channel)
        assert text(info, "tt:Source/tt:Name") == f"Camera {channel}"
        assert utc(text(info, "tt:EarliestRecording")) == spans[0][0]
        assert utc(text(info, "tt:LatestRecording")) == spans[-1][1]
        assert text(info, "tt:Track/tt:TrackType") == "Video"
        assert utc(text(info, "tt:Track/tt:DataFrom")) == spans[0][0]
        assert utc(text(info, "tt:Track/tt:DataTo")) == spans[-1][1]
    assert text(recording_results(nvr, token), "tt:SearchState") == "Completed"  # nothing more
    call(nvr, f"<tse:EndSearch><tse:SearchToken>{token}</tse:SearchToken></tse:EndSearch>")
    fault = call(nvr, f"<tse:EndSearch><tse:SearchToken>{token}</tse:SearchToken></tse:EndSearch>", status=400)
    assert "InvalidToken" in ET.tostring(fault, encoding="unicode")


def test_find_recordings_scope(nvr: NvrDeviceServer) -> None:
    by_recording = find_recordings(nvr, "<tse:Scope><tt:IncludedRecordings>REC_ch2</tt:IncludedRecordings></tse:Scope>")
    infos = recording_results(nvr, by_recording).findall("tt:RecordingInformation", NS)
    assert [text(i, "tt:RecordingToken") for i in infos] == ["REC_ch2"]
    scope = "<tse:Scope><tt:IncludedSources><tt:Token>ch3</tt:Token></tt:IncludedSources></tse:Scope>"
    infos = recording_results(nvr, find_recordings(nvr, scope)).findall("tt:RecordingInformation", NS)
    assert [text(i, "tt:Source/tt:SourceId") for i in infos] == ["ch3"]


def find_events(
    nvr: NvrDeviceServer, start: datetime, end: datetime, *, recording: str | None = None, topic: str | None = None
) -> list[tuple[str, datetime, bool, bool]]:
    """(recording token, time, IsDataPresent, StartStateEvent) for every result, in order, paged by 3."""
    scope = f"<tse:Scope><tt:IncludedRecordings>{recording}</tt:IncludedRecordings></tse:Scope>" if recording else ""
    topic = topic or "tns1:RecordingHistory/Track/State"
    dialect = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
    body = (
        f"<tse:FindEvents><tse:StartPoint>{start.isoformat()}</tse:StartPoint>"
        f"<tse:EndPoint>{end.isoformat()}</tse:EndPoint>{scope}<tse:SearchFilter>"
        f'<tt:TopicExpression Dialect="{dialect}">{topic}</tt:TopicExpression></tse:SearchFilter>'
        "<tse:IncludeStartState>true</tse:IncludeStartState><tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindEvents>"
    )
    token = text(call(nvr, body), ".//tse:SearchToken")
    found: list[tuple[str, datetime, bool, bool]] = []
    while True:
        request = (
            f"<tse:GetEventSearchResults><tse:SearchToken>{token}</tse:SearchToken>"
            "<tse:MaxResults>3</tse:MaxResults></tse:GetEventSearchResults>"
        )
        results = call(nvr, request).find(".//tse:ResultList", NS)
        assert results is not None
        for result in results.findall("tt:Result", NS):
            assert text(result, "tt:Event/wsnt:Topic") == "tns1:RecordingHistory/Track/State"
            item = result.find(".//tt:Data/tt:SimpleItem[@Name='IsDataPresent']", NS)
            assert item is not None
            found.append(
                (
                    text(result, "tt:RecordingToken"),
                    utc(text(result, "tt:Time")),
                    item.get("Value") == "true",
                    text(result, "tt:StartStateEvent") == "true",
                )
            )
        if text(results, "tt:SearchState") == "Completed":
            break
    end_point = text(
        call(nvr, f"<tse:EndSearch><tse:SearchToken>{token}</tse:SearchToken></tse:EndSearch>"), ".//tse:Endpoint"
    )
    assert utc(end_point) == end
    return found


def spans_from_events(events: list[tuple[str, datetime, bool, bool]], end: datetime) -> list[tuple[datetime, datetime]]:
    spans, since = [], None
    for _token, moment, present, _start in events:
        if present and since is None:
            since = moment
        elif not present and since is not None:
            spans.append((since, moment))
            since = None
    if since is not None:
        spans.append((since, end))
    return [(s, e) for s, e in spans if e > s]


def test_find_events_gives_each_span_start_and_end(nvr: NvrDeviceServer) -> None:
    events = find_events(nvr, YESTERDAY, TODAY, recording="REC_ch1")
    assert events == [
        ("REC_ch1", YESTERDAY, True, True),  # the state at the start point
        ("REC_ch1", at(YESTERDAY, 10, 30), False, False),
        ("REC_ch1", at(YESTERDAY, 12, 30), True, False),
    ]
    day_before = YESTERDAY - timedelta(days=1)
    assert find_events(nvr, day_before, YESTERDAY, recording="REC_ch2") == [
        ("REC_ch2", day_before, False, True),
        ("REC_ch2", day_before, False, False),  # the span before it ends as the day starts
        ("REC_ch2", YESTERDAY, True, False),
    ]


def test_events_agree_with_the_disk_for_every_channel(nvr: NvrDeviceServer, store: RecordingStore) -> None:
    start, end = TODAY - timedelta(days=5), TODAY + timedelta(days=1)
    events = find_events(nvr, start, end)
    assert [e[3] for e in events[:3]] == [True] * 3 and not any(e[3] for e in events[3:])
    assert [e[1] for e in events[3:]] == sorted(e[1] for e in events[3:])
    for channel in CHANNELS:
        own = [e for e in events if e[0] == recording_token(channel)]
        assert spans_from_events(own, end) == spans_on_disk(store.root, channel)


def test_a_removed_segment_shows_in_the_next_search(
    nvr: NvrDeviceServer, tmp_path: Path, store: RecordingStore
) -> None:
    made = make_recordings(tmp_path, ("x",), days=1, gaps=[], now=at(TODAY, 3), clip_dir=store.clip.parent)
    server = NvrDeviceServer(made.root, ("x",), "admin", "pw", replay_base="rtsp://127.0.0.1:1", auth="none")
    with server:
        (made.root / "x" / segment_name(at(TODAY, 1), 3600)).unlink()
        events = find_events(server, TODAY, at(TODAY, 3))
    assert spans_from_events(events, at(TODAY, 3)) == [(TODAY, at(TODAY, 1)), (at(TODAY, 2), at(TODAY, 3))]


def test_other_topics_find_nothing(nvr: NvrDeviceServer) -> None:
    assert find_events(nvr, YESTERDAY, TODAY, topic="tns1:VideoSource/MotionAlarm") == []
    # three start states, then ch1 stops and restarts yesterday and ch2 starts again at midnight
    assert len(find_events(nvr, YESTERDAY, TODAY, topic="tns1:RecordingHistory//.")) == 3 + 3


def test_summary_information_and_replay_uri(nvr: NvrDeviceServer, store: RecordingStore) -> None:
    summary = call(nvr, "<tse:GetRecordingSummary/>")
    assert utc(text(summary, ".//tt:DataFrom")) == TODAY - timedelta(days=3)
    assert utc(text(summary, ".//tt:DataUntil")) == NOW
    assert text(summary, ".//tt:NumberRecordings") == "3"
    info = call(
        nvr,
        "<tse:GetRecordingInformation><tse:RecordingToken>REC_ch2</tse:RecordingToken></tse:GetRecordingInformation>",
    )
    assert text(info, ".//tt:Source/tt:SourceId") == "ch2"
    assert text(info, ".//tt:RecordingStatus") == "Recording"  # data up to NOW
    uri = call(
        nvr, "<trp:GetReplayUri><trp:StreamSetup/><trp:RecordingToken>REC_ch2</trp:RecordingToken></trp:GetReplayUri>"
    )
    assert text(uri, ".//trp:Uri") == "rtsp://127.0.0.1:8554/replay/ch2"
    call(nvr, "<trp:GetReplayUri><trp:RecordingToken>REC_nope</trp:RecordingToken></trp:GetReplayUri>", status=400)
    caps = call(nvr, "<trp:GetServiceCapabilities/>")
    assert caps.find(".//trp:Capabilities", NS) is not None
    assert call(nvr, "<tse:GetServiceCapabilities/>").find(".//tse:Capabilities", NS) is not None


def test_behind_nat_it_hands_out_the_advertised_host(store: RecordingStore) -> None:
    server = NvrDeviceServer(
        store.root,
        CHANNELS,
        "admin",
        "pw",
        replay_base="rtsp://127.0.0.1:8554",
        auth="none",
        advertise_host="203.0.113.7",
    )
    with server:
        xaddrs = [e.text or "" for e in call(server, "<tds:GetServices/>").iterfind(".//tds:XAddr", NS)]
        uri = call(server, "<trp:GetReplayUri><trp:RecordingToken>REC_ch1</trp:RecordingToken></trp:GetReplayUri>")
    assert xaddrs and all(x.startswith(f"http://203.0.113.7:{server.port}/") for x in xaddrs)
    assert text(uri, ".//trp:Uri") == "rtsp://203.0.113.7:8554/replay/ch1"


def test_a_search_nobody_keeps_alive_is_forgotten(nvr: NvrDeviceServer) -> None:
    reply = call(nvr, "<tse:FindRecordings><tse:KeepAliveTime>PT0.2S</tse:KeepAliveTime></tse:FindRecordings>")
    token = text(reply, ".//tse:SearchToken")
    assert nvr.open_searches == 1
    time.sleep(0.3)
    body = f"<tse:GetRecordingSearchResults><tse:SearchToken>{token}</tse:SearchToken></tse:GetRecordingSearchResults>"
    call(nvr, body, status=400)
    assert nvr.open_searches == 0


def test_the_nvr_keeps_the_device_authentication(store: RecordingStore) -> None:
    server = NvrDeviceServer(store.root, CHANNELS, "admin", "pw", replay_base="rtsp://127.0.0.1:8554")
    with server:
        call(server, "<tse:GetRecordingSummary/>", status=400)  # no WS-Security token: NotAuthorized
