"""ONVIF Profile G client: recording search, recorded spans from recording-history events, replay URI.

Real device answers (tests/unit/data/onvif_profile_g/, each file's source in its README) are parsed as they
came; the exchanges run against a fake device that answers canned envelopes through the same hardened
parsing the client uses, so a fault comes back as the client's OnvifError.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import pytest

from adapters.common.redact import with_credentials
from adapters.onvif.recordings import (
    MAX_RESULT_CALLS,
    NS_REPLAY,
    TOPIC_RECORDING_STATE,
    TOPIC_TRACK_STATE,
    RecordingEvent,
    Span,
    find_recordings,
    parse_event_search_results,
    parse_recording_search_results,
    recorded_spans,
    replay_uri,
    spans_from_events,
)
from adapters.onvif.soap import NS_SEARCH, OnvifError, build_envelope, parse_envelope, text_of

DATA = Path(__file__).resolve().parent / "data" / "onvif_profile_g"
NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" '
    f'xmlns:tse="{NS_SEARCH}" xmlns:trp="{NS_REPLAY}" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics"'
)
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)

# What a device may embed in the URIs it reports (made up per run: no credential is written down).
DEVICE_PW = secrets.token_urlsafe(8)
NOT_RTSP = with_credentials("http://10.0.0.5/x", "admin", DEVICE_PW)
# with_credentials refuses a port past 65535, so the bad one goes in after.
BAD_PORT = with_credentials("rtsp://10.0.0.5/x", "admin", DEVICE_PW).replace("10.0.0.5/", "10.0.0.5:99999/")


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def envelope(body: str) -> bytes:
    return f"<s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>".encode()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(
    minutes: float,
    present: bool,
    track: str | None = "Video1",
    *,
    start_state: bool = False,
    topic: str = TOPIC_TRACK_STATE,
) -> RecordingEvent:
    return RecordingEvent(time=at(minutes), topic=topic, track=track, present=present, start_state=start_state)


def spans(*pairs: tuple[float, float]) -> list[Span]:
    return [Span(at(lo), at(hi)) for lo, hi in pairs]


# --- a fake device ------------------------------------------------------------------------------

Answer = bytes | OnvifError


class FakeDevice:
    """`call`, `services` and `rebase` as OnvifClient has them, answering canned envelopes per operation.

    Each operation's answers are used in turn, the last one again for every further call."""

    def __init__(
        self,
        answers: dict[str, list[Answer]],
        services: Iterable[str] = (NS_SEARCH, NS_REPLAY),
        configured: str = "http://203.0.113.7:8080",
    ) -> None:
        self.answers = {op: list(queue) for op, queue in answers.items()}
        self._services = {ns: f"{configured}/onvif/{ns.rsplit('/', 2)[-2]}_service" for ns in services}
        self.configured = configured
        self.calls: list[tuple[str, str, str, float | None]] = []

    async def services(self) -> dict[str, str]:
        return dict(self._services)

    def rebase(self, xaddr: str) -> str:
        parts = urlsplit(xaddr)
        return self.configured + (parts.path or "/onvif/device_service") + (f"?{parts.query}" if parts.query else "")

    async def call(self, url: str, action: str, body: str, *, timeout_s: float | None = None) -> Element:
        op = action.rpartition("/")[2]
        self.calls.append((url, op, body, timeout_s))
        # What we send must be well-formed XML with every prefix declared, as a device would parse it.
        parse_envelope(build_envelope(body))
        queue = self.answers[op]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, OnvifError):
            raise answer
        return parse_envelope(answer)

    def ops(self) -> list[str]:
        return [op for _, op, _, _ in self.calls]

    def bodies(self, op: str) -> list[str]:
        return [body for _, name, body, _ in self.calls if name == op]


END_SEARCH = envelope(
    "<tse:EndSearchResponse><tse:Endpoint>2026-05-01T10:00:00Z</tse:Endpoint></tse:EndSearchResponse>"
)


def recording_results(state: str, *tokens: str) -> bytes:
    infos = "".join(
        f"<tt:RecordingInformation><tt:RecordingToken>{t}</tt:RecordingToken>"
        f"<tt:Source><tt:SourceId>{t}-src</tt:SourceId><tt:Name>cam {t}</tt:Name></tt:Source>"
        "<tt:EarliestRecording>2026-04-01T00:00:00Z</tt:EarliestRecording>"
        "<tt:LatestRecording>2026-05-01T00:00:00Z</tt:LatestRecording>"
        f"<tt:Track><tt:TrackToken>{t}-video</tt:TrackToken><tt:TrackType>Video</tt:TrackType></tt:Track>"
        "<tt:RecordingStatus>Recording</tt:RecordingStatus></tt:RecordingInformation>"
        for t in tokens
    )
    return envelope(
        "<tse:GetRecordingSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{infos}</tse:ResultList></tse:GetRecordingSearchResultsResponse>"
    )


def event_result(recording: str, track: str, time: str, present: str, *, start_state: bool = False) -> str:
    return (
        f"<tt:Result><tt:RecordingToken>{recording}</tt:RecordingToken><tt:TrackToken>{track}</tt:TrackToken>"
        f"<tt:Time>{time}</tt:Time><tt:Event>"
        '<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        "tns1:RecordingHistory/Track/State</wsnt:Topic>"
        f'<wsnt:Message><tt:Message UtcTime="{time}" PropertyOperation="Changed">'
        f'<tt:Source><tt:SimpleItem Name="RecordingToken" Value="{recording}"/>'
        f'<tt:SimpleItem Name="Track" Value="{track}"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="IsDataPresent" Value="{present}"/></tt:Data>'
        "</tt:Message></wsnt:Message></tt:Event>"
        f"<tt:StartStateEvent>{'true' if start_state else 'false'}</tt:StartStateEvent></tt:Result>"
    )


def event_results(state: str, *results: str) -> bytes:
    return envelope(
        "<tse:GetEventSearchResultsResponse><tse:ResultList>"
        f"<tt:SearchState>{state}</tt:SearchState>{''.join(results)}</tse:ResultList>"
        "</tse:GetEventSearchResultsResponse>"
    )


def recording_information(token: str, tracks: dict[str, str]) -> bytes:
    track_xml = "".join(
        f"<tt:Track><tt:TrackToken>{t}</tt:TrackToken><tt:TrackType>{kind}</tt:TrackType></tt:Track>"
        for t, kind in tracks.items()
    )
    return envelope(
        "<tse:GetRecordingInformationResponse><tse:RecordingInformation>"
        f"<tt:RecordingToken>{token}</tt:RecordingToken>{track_xml}"
        "</tse:RecordingInformation></tse:GetRecordingInformationResponse>"
    )


# --- real messages ------------------------------------------------------------------------------


def test_real_recording_search_results_are_parsed() -> None:
    state, [rec] = parse_recording_search_results(parse_envelope(data("get_recording_search_results.xml")))
    assert state == "Completed"
    assert rec.token == "OnvifRecordingToken_1"
    assert (rec.source_id, rec.source_name, rec.status) == ("SourceId_1", "IpCamera_1", "Stopped")
    assert rec.earliest == datetime(1970, 1, 1, 0, 3, 15, tzinfo=UTC)
    assert rec.latest == datetime(2025, 3, 15, 16, 28, tzinfo=UTC)
    assert [(t.token, t.kind) for t in rec.tracks] == [
        ("videotracktoken_1", "Video"),
        ("audiotracktoken_1", "Audio"),
        ("metadatatracktoken_1", "Metadata"),
    ]
    assert rec.tracks[0].data_to == datetime(2025, 3, 15, 16, 28, tzinfo=UTC)
    assert rec.video_tracks == ("videotracktoken_1",)


def test_real_search_tokens_are_read() -> None:
    for name, token in (("find_recordings.xml", "RecordingSearchToken_1"), ("find_events.xml", "SearchToken[1]")):
        body = parse_envelope(data(name))
        assert text_of(body.find(".//{*}SearchToken")) == token


def test_real_event_search_results_keep_only_recording_history_states() -> None:
    state, events = parse_event_search_results(parse_envelope(data("get_event_search_results_searching.xml")))
    assert state == "Searching"
    # AudioParameters and Configuration/Profile results are not states of recorded data.
    assert len(events) == 10
    assert {e.topic for e in events} == {TOPIC_TRACK_STATE, TOPIC_RECORDING_STATE}
    assert all(e.recording == "0" for e in events)
    recording_states = [e for e in events if e.topic == TOPIC_RECORDING_STATE]
    assert [(e.track, e.present) for e in recording_states] == [(None, True), (None, False), (None, True)]
    video = [e for e in events if e.track == "VIDEO001"]
    assert [(e.time, e.present) for e in video] == [
        (datetime(2013, 10, 17, 5, 16, 47, tzinfo=UTC), True),
        (datetime(2013, 10, 17, 5, 19, 51, tzinfo=UTC), True),
        (datetime(2013, 10, 17, 5, 19, 55, tzinfo=UTC), True),
    ]
    [audio] = [e for e in events if e.track == "AUDIO001"]
    assert audio.present is False


def test_real_event_results_give_the_video_span() -> None:
    _, events = parse_event_search_results(parse_envelope(data("get_event_search_results_searching.xml")))
    start, end = datetime(2013, 10, 17, 5, 0, tzinfo=UTC), datetime(2013, 10, 17, 6, 0, tzinfo=UTC)
    video_on = datetime(2013, 10, 17, 5, 16, 47, tzinfo=UTC)
    # True repeated (Changed, then Initialized, then Changed again) is one span, still open at the end.
    assert spans_from_events(events, start, end, video_tracks=["VIDEO001"]) == [Span(video_on, end)]
    assert spans_from_events(events, start, end, video_tracks=["AUDIO001"]) == []
    # Track kinds unknown: any track with data counts.
    assert spans_from_events(events, start, end) == [Span(video_on, end)]


def test_real_recording_state_only_result() -> None:
    state, [event] = parse_event_search_results(parse_envelope(data("get_event_search_results_recording_state.xml")))
    assert state == "Completed"
    # "TRUE" in capitals, and a recording-wide state although the result names a track.
    assert (event.topic, event.track, event.present, event.recording) == (
        TOPIC_RECORDING_STATE,
        None,
        True,
        "cam1idx1",
    )
    assert event.time == datetime(2012, 5, 28, 7, 44, 50, tzinfo=UTC)
    start, end = datetime(2012, 5, 28, 7, 0, tzinfo=UTC), datetime(2012, 5, 28, 8, 0, tzinfo=UTC)
    assert spans_from_events([event], start, end, video_tracks=["VIDEO001"]) == [Span(event.time, end)]


# --- spans_from_events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([ev(10, True), ev(20, False)], spans((10, 20)), id="one span"),
        pytest.param(
            [ev(40, False), ev(30, True), ev(20, False), ev(10, True)], spans((10, 20), (30, 40)), id="out of order"
        ),
        pytest.param(
            [ev(10, True), ev(10, True), ev(15, True), ev(20, False), ev(20, False), ev(25, False)],
            spans((10, 20)),
            id="duplicates",
        ),
        pytest.param([ev(50, True)], spans((50, 60)), id="open at end"),
        pytest.param([ev(0, True, start_state=True), ev(5, False)], spans((0, 5)), id="start state true"),
        pytest.param([ev(-30, True, start_state=True), ev(5, False)], spans((0, 5)), id="start state stamped earlier"),
        pytest.param([ev(-30, True), ev(-10, False), ev(5, True)], spans((5, 60)), id="closed before start"),
        pytest.param([ev(-30, True)], spans((0, 60)), id="true since before start"),
        pytest.param([ev(0, False, start_state=True), ev(30, False)], [], id="never true"),
        pytest.param([ev(10, True), ev(20, False), ev(20, True), ev(30, False)], spans((10, 30)), id="touching merge"),
        pytest.param([ev(70, True), ev(80, False)], [], id="after the window"),
        pytest.param([ev(55, True), ev(90, False)], spans((55, 60)), id="clipped at end"),
        pytest.param([ev(20, False), ev(10, True)], spans((10, 20)), id="stop listed before start"),
    ],
)
def test_spans_from_events(events: list[RecordingEvent], expected: list[Span]) -> None:
    assert spans_from_events(events, at(0), at(60), video_tracks=["Video1"]) == expected


def test_a_start_state_goes_before_a_change_at_the_same_instant() -> None:
    # The start state is what a change at that instant changes, whatever order the device lists them in.
    stop_at_start = [ev(0, False), ev(0, True, start_state=True)]
    assert spans_from_events(stop_at_start, at(0), at(60), video_tracks=["Video1"]) == []
    resume_at_start = [ev(0, True), ev(0, False, start_state=True)]
    assert spans_from_events(resume_at_start, at(0), at(60), video_tracks=["Video1"]) == spans((0, 60))


def test_only_video_tracks_count_when_several_tracks_are_present() -> None:
    events = [
        ev(0, True, "Video1", start_state=True),
        ev(10, False, "Video1"),  # the picture is lost ...
        ev(0, True, "Meta1", start_state=True),  # ... while metadata goes on
        ev(0, True, "Audio1", start_state=True),
        ev(30, True, "Video1"),
        ev(40, False, "Video1"),
    ]
    assert spans_from_events(events, at(0), at(60), video_tracks=["Video1"]) == spans((0, 10), (30, 40))
    assert spans_from_events(events, at(0), at(60)) == spans((0, 60))  # kinds unknown: every track


def test_several_video_tracks_count_together() -> None:
    events = [ev(0, True, "V1"), ev(20, False, "V1"), ev(15, True, "V2"), ev(30, False, "V2"), ev(45, True, "V2")]
    assert spans_from_events(events, at(0), at(60), video_tracks=["V1", "V2"]) == spans((0, 30), (45, 60))


def test_recording_state_counts_only_without_track_states() -> None:
    recording = [ev(0, True, None, topic=TOPIC_RECORDING_STATE), ev(50, False, None, topic=TOPIC_RECORDING_STATE)]
    assert spans_from_events(recording, at(0), at(60), video_tracks=["Video1"]) == spans((0, 50))
    track = [ev(10, True), ev(20, False)]
    assert spans_from_events(recording + track, at(0), at(60), video_tracks=["Video1"]) == spans((10, 20))


def test_spans_come_out_in_utc_whatever_zone_the_window_is_given_in() -> None:
    plus_two = timezone(timedelta(hours=2))
    [span] = spans_from_events([ev(-5, True)], at(0).astimezone(plus_two), at(60).astimezone(plus_two))
    assert span == Span(at(0), at(60)) and span.start.tzinfo == UTC and span.end.tzinfo == UTC


def test_empty_or_reversed_window_and_naive_times() -> None:
    assert spans_from_events([ev(10, True)], at(60), at(60)) == []
    assert spans_from_events([ev(10, True)], at(60), at(0)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        spans_from_events([], datetime(2026, 5, 1), datetime(2026, 5, 2))


# --- find_recordings ----------------------------------------------------------------------------


async def test_find_recordings_pages_until_completed_then_ends_the_search() -> None:
    device = FakeDevice(
        {
            "FindRecordings": [data("find_recordings.xml")],
            "GetRecordingSearchResults": [
                recording_results("Searching", "Rec_A"),
                data("get_recording_search_results.xml"),
            ],
            "EndSearch": [END_SEARCH],
        }
    )
    found = await find_recordings(device, max_matches=50, wait_s=3)
    assert [r.token for r in found] == ["Rec_A", "OnvifRecordingToken_1"]
    assert found[0].video_tracks == ("Rec_A-video",) and found[0].status == "Recording"
    assert device.ops() == ["FindRecordings", "GetRecordingSearchResults", "GetRecordingSearchResults", "EndSearch"]
    assert all(url.endswith("/onvif/search_service") for url, *_ in device.calls)
    [find] = device.bodies("FindRecordings")
    assert "<tse:Scope/>" in find and "<tse:MaxMatches>50</tse:MaxMatches>" in find and "KeepAliveTime>PT" in find
    for _, op, body, timeout_s in device.calls:
        if op == "GetRecordingSearchResults":
            assert "<tse:SearchToken>RecordingSearchToken_1</tse:SearchToken>" in body
            assert "<tse:MaxResults>50</tse:MaxResults>" in body and "<tse:WaitTime>PT3S</tse:WaitTime>" in body
            assert timeout_s is not None and timeout_s > 3  # the HTTP request outlasts the device's wait
    assert device.bodies("EndSearch") == [
        f'<tse:EndSearch xmlns:tse="{NS_SEARCH}">'
        "<tse:SearchToken>RecordingSearchToken_1</tse:SearchToken></tse:EndSearch>"
    ]


async def test_find_recordings_keeps_at_most_max_matches_and_no_duplicates() -> None:
    device = FakeDevice(
        {
            "FindRecordings": [data("find_recordings.xml")],
            "GetRecordingSearchResults": [
                recording_results("Searching", "A", "B"),
                recording_results("Completed", "B", "C", "D"),
            ],
            "EndSearch": [END_SEARCH],
        }
    )
    assert [r.token for r in await find_recordings(device, max_matches=3)] == ["A", "B", "C"]


async def test_a_search_that_never_completes_is_ended_and_reported() -> None:
    device = FakeDevice(
        {
            "FindRecordings": [data("find_recordings.xml")],
            "GetRecordingSearchResults": [recording_results("Searching")],
            "EndSearch": [END_SEARCH],
        }
    )
    with pytest.raises(OnvifError, match="did not complete") as caught:
        await find_recordings(device, wait_s=0)
    assert caught.value.reason == "bad response"
    assert device.ops().count("GetRecordingSearchResults") == MAX_RESULT_CALLS
    assert device.ops()[-1] == "EndSearch"


async def test_a_failing_round_still_ends_the_search_and_a_failing_end_search_is_ignored() -> None:
    device = FakeDevice(
        {
            "FindRecordings": [data("find_recordings.xml")],
            "GetRecordingSearchResults": [OnvifError("timeout", "http://203.0.113.7:8080: ReadTimeout")],
            "EndSearch": [OnvifError("bad response", "SOAP fault Sender/InvalidArgVal: unknown token")],
        }
    )
    with pytest.raises(OnvifError) as caught:
        await find_recordings(device)
    assert caught.value.reason == "timeout" and "GetRecordingSearchResults" in caught.value.detail
    assert device.ops() == ["FindRecordings", "GetRecordingSearchResults", "EndSearch"]

    completed = FakeDevice(
        {
            "FindRecordings": [data("find_recordings.xml")],
            "GetRecordingSearchResults": [data("get_recording_search_results.xml")],
            "EndSearch": [OnvifError("bad response", "SOAP fault Sender/InvalidArgVal: unknown token")],
        }
    )
    assert [r.token for r in await find_recordings(completed)] == ["OnvifRecordingToken_1"]


async def test_no_search_service_is_not_supported() -> None:
    device = FakeDevice({}, services=[NS_REPLAY])
    for attempt in (find_recordings(device), recorded_spans(device, "Rec", at(0), at(60))):
        with pytest.raises(OnvifError, match="no Search service") as caught:
            await attempt
        assert caught.value.reason == "not supported"
    assert device.calls == []


async def test_a_find_without_search_token_is_a_bad_response() -> None:
    device = FakeDevice({"FindRecordings": [envelope("<tse:FindRecordingsResponse/>")]})
    with pytest.raises(OnvifError, match="without SearchToken"):
        await find_recordings(device)


# --- recorded_spans -----------------------------------------------------------------------------


def _span_device(**overrides: list[Answer]) -> FakeDevice:
    answers: dict[str, list[Answer]] = {
        "GetRecordingInformation": [recording_information("0", {"VIDEO001": "Video", "AUDIO001": "Audio"})],
        "FindEvents": [data("find_events.xml")],
        "GetEventSearchResults": [
            data("get_event_search_results_searching.xml"),
            event_results(
                "Completed",
                event_result("0", "VIDEO001", "2013-10-17T05:30:00Z", "false"),
                event_result("0", "META001", "2013-10-17T05:40:00Z", "false"),
                event_result("other", "VIDEO001", "2013-10-17T05:31:00Z", "true"),  # another recording's
            ),
        ],
        "EndSearch": [END_SEARCH],
    }
    answers.update(overrides)
    return FakeDevice(answers)


START, END = datetime(2013, 10, 17, 5, 0, tzinfo=UTC), datetime(2013, 10, 17, 6, 0, tzinfo=UTC)


async def test_recorded_spans_from_a_paged_event_search() -> None:
    device = _span_device()
    result = await recorded_spans(device, "0", START, END)
    assert result == [Span(datetime(2013, 10, 17, 5, 16, 47, tzinfo=UTC), datetime(2013, 10, 17, 5, 30, tzinfo=UTC))]
    assert device.ops() == [
        "GetRecordingInformation",
        "FindEvents",
        "GetEventSearchResults",
        "GetEventSearchResults",
        "EndSearch",
    ]
    [find] = device.bodies("FindEvents")
    assert "<tse:StartPoint>2013-10-17T05:00:00Z</tse:StartPoint>" in find
    assert "<tse:EndPoint>2013-10-17T06:00:00Z</tse:EndPoint>" in find
    assert "<tt:IncludedRecordings>0</tt:IncludedRecordings>" in find
    assert "tns1:RecordingHistory/Track/State|tns1:RecordingHistory/Recording/State" in find
    assert "<tse:IncludeStartState>true</tse:IncludeStartState>" in find and "<tse:MaxMatches>2000<" in find
    assert "<tse:SearchToken>SearchToken[1]</tse:SearchToken>" in device.bodies("EndSearch")[0]


async def test_recorded_spans_with_known_video_tracks_skip_the_information_call() -> None:
    device = _span_device()
    result = await recorded_spans(device, "0", START, END, video_tracks=["VIDEO001"])
    assert len(result) == 1 and "GetRecordingInformation" not in device.ops()


async def test_recorded_spans_without_track_kinds_count_every_track() -> None:
    unsupported = OnvifError("not supported", "SOAP fault Receiver/ActionNotSupported")
    device = _span_device(GetRecordingInformation=[unsupported])
    # The metadata track has data until 05:40, after the video stopped at 05:30.
    result = await recorded_spans(device, "0", START, END)
    assert result == [Span(datetime(2013, 10, 17, 5, 16, 47, tzinfo=UTC), datetime(2013, 10, 17, 5, 40, tzinfo=UTC))]


async def test_recorded_spans_widen_fractional_times_to_whole_seconds_and_clip() -> None:
    device = _span_device()
    start, end = START + timedelta(microseconds=250_000), END - timedelta(microseconds=250_000)
    [span] = await recorded_spans(device, "0", start, end, video_tracks=["VIDEO001"])
    [find] = device.bodies("FindEvents")
    assert "<tse:StartPoint>2013-10-17T05:00:00Z<" in find and "<tse:EndPoint>2013-10-17T06:00:00Z<" in find
    assert span.start >= start and span.end <= end


async def test_recorded_spans_of_a_device_that_never_completes() -> None:
    device = _span_device(GetEventSearchResults=[event_results("Searching")])
    with pytest.raises(OnvifError, match="GetEventSearchResults: the search did not complete"):
        await recorded_spans(device, "0", START, END, video_tracks=["VIDEO001"], wait_s=0)
    assert device.ops().count("GetEventSearchResults") == MAX_RESULT_CALLS and device.ops()[-1] == "EndSearch"


async def test_recorded_spans_of_an_empty_window_ask_nothing() -> None:
    device = _span_device()
    assert await recorded_spans(device, "0", END, START) == []
    assert device.calls == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await recorded_spans(device, "0", datetime(2013, 10, 17), datetime(2013, 10, 18))


# --- replay_uri ---------------------------------------------------------------------------------


async def test_replay_uri_of_a_real_answer_is_rebased_onto_the_configured_host() -> None:
    device = FakeDevice({"GetReplayUri": [data("get_replay_uri.xml")]})
    uri = await replay_uri(device, "SD_DISK_20200422_132655_67086B52")
    # The camera's own (private) address is never used; the query (the replay id) is kept as it came.
    assert uri == (
        "rtsp://203.0.113.7/onvif-media/record/play.amp?onvifreplayid=SD_DISK_20200422_132655_67086B52"
        "&onvifreplayext=1&streamtype=unicast&session_timeout=30"
    )
    [(url, op, body, _)] = device.calls
    assert op == "GetReplayUri" and url.endswith("/onvif/replay_service")
    assert "<tt:Stream>RTP-Unicast</tt:Stream>" in body and "<tt:Protocol>RTSP</tt:Protocol>" in body
    assert "<trp:RecordingToken>SD_DISK_20200422_132655_67086B52</trp:RecordingToken>" in body


@pytest.mark.parametrize(
    ("advertised", "configured", "expected"),
    [
        (
            with_credentials("rtsp://192.168.1.10:10554/Streaming/tracks/101?starttime=x", "admin", DEVICE_PW),
            "http://cam.example.org:8080",
            "rtsp://cam.example.org:10554/Streaming/tracks/101?starttime=x",
        ),
        ("rtsp://10.0.0.5/replay/1", "http://[2001:db8::7]:80", "rtsp://[2001:db8::7]/replay/1"),
        ("RTSP://10.0.0.5:554/replay/1", "http://203.0.113.7:8080", "rtsp://203.0.113.7:554/replay/1"),
    ],
    # Named, not by their values: the password is made up per run, and every xdist worker must collect alike.
    ids=["credentials and port", "ipv6 host", "upper-case scheme"],
)
async def test_replay_uri_drops_credentials_and_the_device_host(
    advertised: str, configured: str, expected: str
) -> None:
    answer = envelope(f"<trp:GetReplayUriResponse><trp:Uri>{advertised}</trp:Uri></trp:GetReplayUriResponse>")
    device = FakeDevice({"GetReplayUri": [answer]}, configured=configured)
    assert await replay_uri(device, "Rec & <1>") == expected
    assert "<trp:RecordingToken>Rec &amp; &lt;1&gt;</trp:RecordingToken>" in device.bodies("GetReplayUri")[0]


@pytest.mark.parametrize(
    "answer",
    [
        envelope("<trp:GetReplayUriResponse/>"),
        envelope(f"<trp:GetReplayUriResponse><trp:Uri>{NOT_RTSP}</trp:Uri></trp:GetReplayUriResponse>"),
        envelope(f"<trp:GetReplayUriResponse><trp:Uri>{BAD_PORT}</trp:Uri></trp:GetReplayUriResponse>"),
    ],
    ids=["no uri", "not rtsp", "bad port"],
)
async def test_replay_uri_bad_answers(answer: bytes) -> None:
    with pytest.raises(OnvifError) as caught:
        await replay_uri(FakeDevice({"GetReplayUri": [answer]}), "Rec")
    assert caught.value.reason == "bad response" and "s3cret" not in str(caught.value)


async def test_replay_uri_of_an_unknown_recording_names_the_fault() -> None:
    device = FakeDevice({"GetReplayUri": [data("get_replay_uri_no_recording.xml")]})
    with pytest.raises(OnvifError, match=r"GetReplayUri: .*NoRecording.*Recording not found") as caught:
        await replay_uri(device, "nope")
    assert caught.value.reason == "bad response"


async def test_no_replay_service_is_not_supported() -> None:
    device = FakeDevice({}, services=[NS_SEARCH])
    with pytest.raises(OnvifError, match="no Replay service") as caught:
        await replay_uri(device, "Rec")
    assert caught.value.reason == "not supported" and device.calls == []
