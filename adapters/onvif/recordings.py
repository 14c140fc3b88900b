"""ONVIF Profile G: what a device (a camera with storage, or an NVR) recorded, and the URI to replay it.

Recording search (ONVIF Recording Search spec): FindRecordings, then GetRecordingSearchResults until the
search is Completed, then EndSearch; the recorded time within a recording comes from FindEvents on the
``tns1:RecordingHistory/Track/State`` topic (``IsDataPresent`` true/false at each start and stop of
data), read with GetEventSearchResults. Replay (ONVIF Replay Control spec): GetReplayUri, then RTSP with
``Require: onvif-replay`` and ``Range: clock=...``.

A search is a session on the device: it holds resources there until EndSearch or until its KeepAliveTime
runs out, so every search that got a token is ended, also after a failure (best effort: a device that has
already dropped a completed search answers EndSearch with a fault, which changes nothing). Paging is
bounded (`MAX_RESULT_CALLS`): a device that never reports Completed costs a known time, not forever.

Which data counts as "recorded" (`spans_from_events`): the video track(s). An NVR records audio and
metadata tracks too, and a metadata track can carry data while the picture is lost; a span is time with
video. Several video tracks count together (any of them has data). A device that reports only
``RecordingHistory/Recording/State`` (``IsRecording``) and no track state is judged by that instead.

All times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from adapters.onvif.events import normalise_topic
from adapters.onvif.soap import (
    NS_SCHEMA,
    NS_SEARCH,
    OnvifError,
    child,
    children,
    descendant,
    descendants,
    text_of,
    xsd_datetime,
)

__all__ = [
    "MAX_RESULT_CALLS",
    "NS_REPLAY",
    "TOPIC_RECORDING_STATE",
    "TOPIC_TRACK_STATE",
    "Recording",
    "RecordingEvent",
    "SearchDevice",
    "Span",
    "Track",
    "find_recordings",
    "parse_event_result",
    "parse_event_search_results",
    "parse_recording_information",
    "parse_recording_search_results",
    "recorded_spans",
    "replay_uri",
    "spans_from_events",
]

NS_REPLAY: Final = "http://www.onvif.org/ver10/replay/wsdl"
NS_WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"
NS_TOPICS: Final = "http://www.onvif.org/ver10/topics"
TOPIC_TRACK_STATE: Final = "RecordingHistory/Track/State"
TOPIC_RECORDING_STATE: Final = "RecordingHistory/Recording/State"
_CONCRETE_SET: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

MAX_RESULT_CALLS: Final = 20  # Get*SearchResults rounds per search before giving up
# A Get*SearchResults call may block on the device for its WaitTime; the HTTP request must outlast it.
_HTTP_MARGIN_S: Final = 10.0
# The session must survive the gap between two rounds (one WaitTime plus the network) with room to spare.
_KEEPALIVE_MARGIN_S: Final = 30.0
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


@dataclass(frozen=True)
class Track:
    token: str
    kind: str  # "Video" | "Audio" | "Metadata" | "Extended", as the device says
    data_from: datetime | None
    data_to: datetime | None


@dataclass(frozen=True)
class Recording:
    """One recording (usually one per camera channel) as FindRecordings reports it."""

    token: str
    source_id: str | None  # RecordingSourceInformation/SourceId: which channel or camera
    source_name: str | None
    earliest: datetime | None
    latest: datetime | None
    tracks: tuple[Track, ...]
    status: str | None = None  # RecordingStatus: "Recording", "Stopped", ... as the device says

    @property
    def video_tracks(self) -> tuple[str, ...]:
        """Tokens of the video tracks: the ones whose data counts as recorded (see the module doc)."""
        return tuple(t.token for t in self.tracks if t.kind.lower() == "video")


@dataclass(frozen=True)
class Span:
    """A stretch of time with recorded data, [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class RecordingEvent:
    """One recording-history state from an event search: data present (or recording) or not, from `time` on."""

    time: datetime
    topic: str  # normalised, e.g. "RecordingHistory/Track/State"
    track: str | None  # the track token; None for the recording-wide state
    present: bool  # IsDataPresent (track state) or IsRecording (recording state)
    start_state: bool = False  # StartStateEvent: the state at the search's start point, not a change
    recording: str | None = None  # the recording token the device gave, when it gave one


class SearchDevice(Protocol):
    """What these functions need of `adapters.onvif.client.OnvifClient` (tests pass a fake)."""

    async def call(self, url: str, action: str, body: str, *, timeout_s: float | None = None) -> Element: ...

    async def services(self) -> dict[str, str]: ...

    def rebase(self, xaddr: str) -> str: ...


# --- parsing ----------------------------------------------------------------------------------


def _bool(value: str | None) -> bool | None:
    """xs:boolean, leniently: some firmwares write TRUE/FALSE."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def parse_recording_information(info: Element) -> Recording | None:
    """A tt:RecordingInformation; None when it has no RecordingToken (nothing could refer to it)."""
    token = text_of(info, "RecordingToken")
    if token is None:
        return None
    source = child(info, "Source")
    tracks = tuple(
        Track(
            token=track_token,
            kind=text_of(track, "TrackType") or "",
            data_from=xsd_datetime(text_of(track, "DataFrom")),
            data_to=xsd_datetime(text_of(track, "DataTo")),
        )
        for track in children(info, "Track")
        if (track_token := text_of(track, "TrackToken")) is not None
    )
    return Recording(
        token=token,
        source_id=text_of(source, "SourceId"),
        source_name=text_of(source, "Name"),
        earliest=xsd_datetime(text_of(info, "EarliestRecording")),
        latest=xsd_datetime(text_of(info, "LatestRecording")),
        tracks=tracks,
        status=text_of(info, "RecordingStatus"),
    )


def _result_list(body: Element, operation: str) -> Element:
    result_list = descendant(body, "ResultList")
    if result_list is None:
        raise OnvifError("bad response", f"{operation} without ResultList")
    return result_list


def parse_recording_search_results(body: Element) -> tuple[str | None, list[Recording]]:
    """A GetRecordingSearchResults response body: (SearchState, the recordings in it)."""
    result_list = _result_list(body, "GetRecordingSearchResults")
    recordings = [
        rec for info in children(result_list, "RecordingInformation") if (rec := parse_recording_information(info))
    ]
    return text_of(result_list, "SearchState"), recordings


def _simple_item(el: Element | None, names: Iterable[str]) -> tuple[str, str] | None:
    """The first SimpleItem below `el` named one of `names`, as (name, value)."""
    if el is None:
        return None
    wanted = set(names)
    for item in descendants(el, "SimpleItem"):
        name, value = item.get("Name"), item.get("Value")
        if name in wanted and value is not None:
            return name, value
    return None


def _item_value(el: Element | None, names: Iterable[str]) -> str | None:
    item = _simple_item(el, names)
    return (item[1].strip() or None) if item is not None else None


def parse_event_result(result: Element) -> RecordingEvent | None:
    """A tt:FindEventResult; None unless it is a recording-history state with a readable value and time.

    The state is the Data SimpleItem IsDataPresent (track state) or IsRecording (recording state); the
    time is the result's Time, else the message's UtcTime. The track is TrackToken, else the Source item
    "Track" (devices leave TrackToken empty for the recording-wide state, and some for every state).
    """
    event = child(result, "Event")
    topic = normalise_topic(text_of(event, "Topic") or "")
    if topic not in (TOPIC_TRACK_STATE, TOPIC_RECORDING_STATE):
        return None
    message = descendant(event, "Message")
    inner = child(message, "Message")  # tt:Message inside wsnt:Message; some firmwares flatten it
    inner = message if inner is None else inner
    item = _simple_item(child(inner, "Data"), ("IsDataPresent", "IsRecording"))
    present = _bool(item[1]) if item is not None else None
    time = xsd_datetime(text_of(result, "Time")) or xsd_datetime(None if inner is None else inner.get("UtcTime"))
    if present is None or time is None:
        return None
    source = child(inner, "Source")
    track = text_of(result, "TrackToken") or _item_value(source, ("Track",))
    recording = text_of(result, "RecordingToken") or _item_value(source, ("RecordingToken", "Recording"))
    return RecordingEvent(
        time=time,
        topic=topic,
        track=track if topic == TOPIC_TRACK_STATE else None,
        present=present,
        start_state=_bool(text_of(result, "StartStateEvent")) is True,
        recording=recording,
    )


def parse_event_search_results(body: Element) -> tuple[str | None, list[RecordingEvent]]:
    """A GetEventSearchResults response body: (SearchState, its recording-history states; others skipped)."""
    result_list = _result_list(body, "GetEventSearchResults")
    events = [ev for result in children(result_list, "Result") if (ev := parse_event_result(result))]
    return text_of(result_list, "SearchState"), events


# --- spans ------------------------------------------------------------------------------------


def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[Span]:
    """Sorted, non-empty intervals merged where they overlap or touch."""
    merged: list[Span] = []
    for lo, hi in sorted(i for i in intervals if i[0] < i[1]):
        if merged and lo <= merged[-1].end:
            if hi > merged[-1].end:
                merged[-1] = Span(merged[-1].start, hi)
        else:
            merged.append(Span(lo, hi))
    return merged


def _track_intervals(events: list[RecordingEvent], end: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) for one track's states. A start-state event goes first among equal times (it is
    the state at the start point, what any change at that instant changes); otherwise the device's order
    decides a tie. A repeated state changes nothing: the first true opens, the first false closes."""
    ordered = sorted(events, key=lambda ev: (ev.time, not ev.start_state))
    intervals: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for ev in ordered:
        if ev.present and opened is None:
            opened = ev.time
        elif not ev.present and opened is not None:
            intervals.append((opened, ev.time))
            opened = None
    if opened is not None:  # still recording when the events end: recorded up to `end`
        intervals.append((opened, max(opened, end)))
    return intervals


def spans_from_events(
    events: Iterable[RecordingEvent],
    start: datetime,
    end: datetime,
    *,
    video_tracks: Collection[str] | None = None,
) -> list[Span]:
    """The recorded spans within [start, end): sorted, merged, clipped.

    Track states (IsDataPresent) decide when there are any; among them only those of `video_tracks`
    when it is given (see the module doc: video is what counts), of every track when the track kinds are
    unknown (None). Without any track state, the recording state (IsRecording) decides. Events may come
    in any order and repeat; a state true before `start` (a start-state event, or an earlier change)
    covers `start`; a state still true at the last event lasts to `end`.
    """
    _require_aware(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # the spans come out in UTC, as promised
    if end <= start:
        return []
    all_events = list(events)
    chosen = [ev for ev in all_events if ev.topic == TOPIC_TRACK_STATE]
    if chosen:
        if video_tracks is not None:
            wanted = set(video_tracks)
            chosen = [ev for ev in chosen if ev.track in wanted]
    else:
        chosen = [ev for ev in all_events if ev.topic == TOPIC_RECORDING_STATE]
    by_track: dict[str | None, list[RecordingEvent]] = {}
    for ev in chosen:
        by_track.setdefault(ev.track, []).append(ev)
    intervals = [iv for track_events in by_track.values() for iv in _track_intervals(track_events, end)]
    return _merge((max(lo, start), min(hi, end)) for lo, hi in intervals)


# --- the exchanges ----------------------------------------------------------------------------


def _require_aware(*moments: datetime) -> None:
    if any(m.tzinfo is None for m in moments):
        raise ValueError("times must be timezone-aware")


def _duration(seconds: float) -> str:
    """xs:duration in whole seconds: firmwares parse "PT5S" where some choke on "PT5.5S"."""
    return f"PT{max(0, math.ceil(seconds))}S"


def _xsd_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _service_url(client: SearchDevice, namespace: str, what: str) -> str:
    url = (await client.services()).get(namespace)
    if url is None:
        raise OnvifError("not supported", f"the device offers no {what}")
    return url


async def _call(
    client: SearchDevice, url: str, namespace: str, operation: str, body: str, timeout_s: float | None = None
) -> Element:
    """One call, its failure naming the operation (the detail is already redacted by the client)."""
    try:
        return await client.call(url, f"{namespace}/{operation}", body, timeout_s=timeout_s)
    except OnvifError as exc:
        raise OnvifError(exc.reason, f"{operation}: {exc.detail}") from None


async def _start_search(client: SearchDevice, url: str, operation: str, body: str) -> str:
    response = await _call(client, url, NS_SEARCH, operation, body)
    token = text_of(descendant(response, "SearchToken"))
    if token is None:
        raise OnvifError("bad response", f"{operation} without SearchToken")
    return token


async def _end_search(client: SearchDevice, url: str, token: str) -> None:
    """Best effort: a device may already have dropped a completed search and answer with a fault."""
    with contextlib.suppress(OnvifError):
        await _call(
            client,
            url,
            NS_SEARCH,
            "EndSearch",
            f'<tse:EndSearch xmlns:tse="{NS_SEARCH}">'
            f"<tse:SearchToken>{escape(token)}</tse:SearchToken></tse:EndSearch>",
        )


async def _result_rounds(
    client: SearchDevice, url: str, operation: str, token: str, max_results: int, wait_s: float
) -> list[Element]:
    """Each Get*SearchResults response body until one says Completed, at most MAX_RESULT_CALLS of them;
    then EndSearch. Raises OnvifError when the search does not complete (after ending it)."""
    request = (
        f'<tse:{operation} xmlns:tse="{NS_SEARCH}"><tse:SearchToken>{escape(token)}</tse:SearchToken>'
        f"<tse:MinResults>1</tse:MinResults><tse:MaxResults>{max_results}</tse:MaxResults>"
        f"<tse:WaitTime>{_duration(wait_s)}</tse:WaitTime></tse:{operation}>"
    )
    bodies: list[Element] = []
    try:
        for _ in range(MAX_RESULT_CALLS):
            body = await _call(client, url, NS_SEARCH, operation, request, timeout_s=wait_s + _HTTP_MARGIN_S)
            bodies.append(body)
            if (text_of(_result_list(body, operation), "SearchState") or "").lower() == "completed":
                break
        else:
            raise OnvifError(
                "bad response", f"{operation}: the search did not complete in {MAX_RESULT_CALLS} calls; ended it"
            )
    except OnvifError:
        await _end_search(client, url, token)
        raise
    await _end_search(client, url, token)
    return bodies


async def find_recordings(client: SearchDevice, *, max_matches: int = 200, wait_s: float = 5.0) -> list[Recording]:
    """Every recording on the device (at most `max_matches`), in the order the device lists them.

    Raises OnvifError("not supported") when the device has no Search service."""
    url = await _service_url(client, NS_SEARCH, "recording search (no Search service)")
    keep_alive = _duration(wait_s + _KEEPALIVE_MARGIN_S)
    token = await _start_search(
        client,
        url,
        "FindRecordings",
        f'<tse:FindRecordings xmlns:tse="{NS_SEARCH}"><tse:Scope/><tse:MaxMatches>{max_matches}</tse:MaxMatches>'
        f"<tse:KeepAliveTime>{keep_alive}</tse:KeepAliveTime></tse:FindRecordings>",
    )
    bodies = await _result_rounds(client, url, "GetRecordingSearchResults", token, max_matches, wait_s)
    found: dict[str, Recording] = {}
    for body in bodies:
        for rec in parse_recording_search_results(body)[1]:
            # A round must not repeat an earlier one's results; if one does, the later report is newer.
            if rec.token in found or len(found) < max_matches:
                found[rec.token] = rec
    return list(found.values())


async def _video_tracks(client: SearchDevice, url: str, recording_token: str) -> tuple[str, ...] | None:
    """The recording's video tracks from GetRecordingInformation; None when the device will not say."""
    try:
        body = await _call(
            client,
            url,
            NS_SEARCH,
            "GetRecordingInformation",
            f'<tse:GetRecordingInformation xmlns:tse="{NS_SEARCH}">'
            f"<tse:RecordingToken>{escape(recording_token)}</tse:RecordingToken></tse:GetRecordingInformation>",
        )
    except OnvifError as exc:
        if exc.reason in ("not supported", "bad response"):
            return None
        raise
    info = descendant(body, "RecordingInformation")
    rec = None if info is None else parse_recording_information(info)
    if rec is None or not rec.tracks:
        return None
    return rec.video_tracks


async def recorded_spans(
    client: SearchDevice,
    recording_token: str,
    start: datetime,
    end: datetime,
    *,
    max_matches: int = 2000,
    wait_s: float = 5.0,
    video_tracks: Collection[str] | None = None,
) -> list[Span]:
    """The spans of [start, end) in which the recording holds video, from its recording-history events.

    `video_tracks`: the recording's video track tokens (`Recording.video_tracks` from find_recordings);
    when not given they are asked for with GetRecordingInformation (one more call). Raises OnvifError
    ("not supported") when the device has no Search service; ValueError for naive times."""
    _require_aware(start, end)
    if end <= start:
        return []
    url = await _service_url(client, NS_SEARCH, "recording search (no Search service)")
    if video_tracks is None:
        video_tracks = await _video_tracks(client, url, recording_token)
    topics = f"tns1:{TOPIC_TRACK_STATE}|tns1:{TOPIC_RECORDING_STATE}"
    # Whole seconds, widened outwards: some firmwares refuse fractions, and the result is clipped here anyway.
    start_point = start.astimezone(UTC).replace(microsecond=0)
    end_point = end.astimezone(UTC)
    if end_point.microsecond:
        end_point = end_point.replace(microsecond=0) + timedelta(seconds=1)
    token = await _start_search(
        client,
        url,
        "FindEvents",
        f'<tse:FindEvents xmlns:tse="{NS_SEARCH}" xmlns:tt="{NS_SCHEMA}" xmlns:wsnt="{NS_WSNT}">'
        f"<tse:StartPoint>{_xsd_time(start_point)}</tse:StartPoint><tse:EndPoint>{_xsd_time(end_point)}</tse:EndPoint>"
        f"<tse:Scope><tt:IncludedRecordings>{escape(recording_token)}</tt:IncludedRecordings></tse:Scope>"
        f'<tse:SearchFilter><wsnt:TopicExpression Dialect="{_CONCRETE_SET}" xmlns:tns1="{NS_TOPICS}">{topics}'
        "</wsnt:TopicExpression></tse:SearchFilter>"
        "<tse:IncludeStartState>true</tse:IncludeStartState>"
        f"<tse:MaxMatches>{max_matches}</tse:MaxMatches>"
        f"<tse:KeepAliveTime>{_duration(wait_s + _KEEPALIVE_MARGIN_S)}</tse:KeepAliveTime></tse:FindEvents>",
    )
    bodies = await _result_rounds(client, url, "GetEventSearchResults", token, max_matches, wait_s)
    events = [
        ev
        for body in bodies
        for ev in parse_event_search_results(body)[1]
        # A device that ignores the search scope must not lend another recording's history to this one.
        if ev.recording in (None, recording_token)
    ][:max_matches]
    return spans_from_events(events, start, end, video_tracks=video_tracks)


def _rebase_rtsp(uri: str, configured_host: str) -> str:
    """The replay URI on the host we were configured with: the device's own address (private, behind
    NAT) is never used, nor any user:password it embeds. Scheme, port, path and query stay as the device
    said; the ONVIF port mapping tells nothing about the RTSP port."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        raise OnvifError("bad response", "GetReplayUri gave an unparseable URI") from None
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.netloc:
        raise OnvifError("bad response", f"GetReplayUri gave no RTSP URI (scheme {parts.scheme!r})")
    host = f"[{configured_host}]" if ":" in configured_host else configured_host
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def replay_uri(client: SearchDevice, recording_token: str) -> str:
    """The RTSP URI to replay a recording (RTP unicast over RTSP), on the configured host, no credentials.

    Raises OnvifError("not supported") when the device has no Replay service."""
    url = await _service_url(client, NS_REPLAY, "replay (no Replay service)")
    body = await _call(
        client,
        url,
        NS_REPLAY,
        "GetReplayUri",
        f'<trp:GetReplayUri xmlns:trp="{NS_REPLAY}" xmlns:tt="{NS_SCHEMA}">'
        "<trp:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
        "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trp:StreamSetup>"
        f"<trp:RecordingToken>{escape(recording_token)}</trp:RecordingToken></trp:GetReplayUri>",
    )
    uri = text_of(descendant(body, "Uri"))
    if uri is None:
        raise OnvifError("bad response", "GetReplayUri without Uri")
    # rebase() gives the configured host the way every service address is re-based; only its host is used.
    configured_host = urlsplit(client.rebase("/")).hostname
    if not configured_host:
        raise OnvifError("bad response", "no configured host to re-base the replay URI onto")
    return _rebase_rtsp(uri, configured_host)
