"""A simulated NVR: the ONVIF device of sim/onvif_device.py with Profile G search and replay.

Everything it answers is computed from a recording store on disk (sim/recordings.py), read again at
each request, so a test can remove a segment file and see the gap in the next search:

- Search service (ONVIF Recording Search spec): GetServiceCapabilities, GetRecordingSummary,
  GetRecordingInformation, FindRecordings / GetRecordingSearchResults (one RecordingInformation per
  channel: Source with SourceId and Name, EarliestRecording, LatestRecording, one Video track with
  DataFrom and DataTo), FindEvents / GetEventSearchResults on ``tns1:RecordingHistory/Track/State``
  (``IsDataPresent`` true at each recorded span's start, false at its end, and with IncludeStartState
  a start state event at StartPoint), GetSearchState, EndSearch. Results are paged by MaxResults:
  SearchState is Searching while results remain and Completed with the last of them. A search
  nobody asks about for its KeepAliveTime is forgotten (an InvalidToken fault afterwards).
- Replay service (ONVIF Replay Control spec): GetServiceCapabilities, GetReplayUri, which names the
  channel's replay mount on the RTSP server (sim/rtsp_server.py, ``replays`` in its spec).
- Recording service: GetRecordings (the recordings, their source and their video track).

One recording per channel: token ``REC_<channel>``, source id the channel's name, track ``VIDEO001``.
With `advertise_host`, every address the NVR hands out (XAddrs, replay URIs) names that host instead of
127.0.0.1, as an NVR behind NAT does; it still listens on 127.0.0.1 only.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sim.onvif_device import (
    RESPONSES_DIR,
    HttpReply,
    OnvifDeviceServer,
    child_text,
    duration_s,
    find_child,
    local_name,
    namespace_of,
)
from sim.recordings import Span, spans_on_disk

__all__ = ["NS_REPLAY", "NS_SEARCH", "TRACK_TOKEN", "TRACK_TOPIC", "NvrDeviceServer", "recording_token"]

NS_SEARCH: Final = "http://www.onvif.org/ver10/search/wsdl"
NS_REPLAY: Final = "http://www.onvif.org/ver10/replay/wsdl"
NS_RECORDING: Final = "http://www.onvif.org/ver10/recording/wsdl"
TRACK_TOKEN: Final = "VIDEO001"  # noqa: S105 - an ONVIF track token, not a secret
TRACK_TOPIC: Final = "tns1:RecordingHistory/Track/State"
TOPIC_DIALECT: Final = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
DEFAULT_KEEP_ALIVE_S: Final = 60.0
RECORDING_NOW_S: Final = 300.0  # a recording whose data ends this close to now is still "Recording"
_ATTR: Final = {'"': "&quot;"}


def recording_token(channel: str) -> str:
    return f"REC_{channel}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _all_text(el: ET.Element | None, name: str) -> list[str]:
    if el is None:
        return []
    return [d.text.strip() for d in el.iter() if isinstance(d.tag, str) and local_name(d.tag) == name and d.text]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


@dataclass
class _Search:
    kind: str  # "recordings" | "events"
    results: list[str]  # rendered result fragments, in the order they are handed out
    times: list[datetime | None]  # the time each result stands at (EndSearch's Endpoint)
    end_point: datetime | None
    keep_alive_s: float
    touched: float  # time.monotonic()
    sent: int = 0


class NvrDeviceServer(OnvifDeviceServer):
    """An ONVIF NVR on 127.0.0.1 serving Profile G from the recording store at `root`.

    `replay_base` is the RTSP server's base URL (``rtsp://127.0.0.1:8554``): channel ``ch1`` replays at
    ``<replay_base>/replay/ch1``. `names` gives channels a source name (default ``Camera <channel>``).
    """

    def __init__(
        self,
        root: Path,
        channels: Sequence[str],
        username: str,
        password: str,
        *,
        replay_base: str,
        names: Mapping[str, str] | None = None,
        advertise_host: str | None = None,
        vendor: str = "generic",
        auth: str | None = None,
        clock_skew_s: float = 0.0,
        port: int = 0,
        keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if not channels:
            raise ValueError("an NVR has at least one channel")
        live = f"{replay_base.rstrip('/')}/live/{channels[0]}"
        super().__init__(vendor, username, password, main_uri=live, auth=auth, clock_skew_s=clock_skew_s, port=port)
        self._templates.update(self._load_templates(RESPONSES_DIR / "nvr"))
        self.root = Path(root)
        self.channels = tuple(channels)
        self.replay_base = replay_base.rstrip("/")
        self.names = dict(names or {})
        self.advertise_host = advertise_host
        self.keep_alive_s = keep_alive_s
        self._now = now
        self._searches: dict[str, _Search] = {}
        self._search_lock = threading.Lock()
        self.searches_started = 0

    # -- what the store says --

    def device_now(self) -> datetime:
        return self._now() if self._now is not None else super().device_now()

    def spans(self, channel: str) -> list[Span]:
        return spans_on_disk(self.root, channel)

    def channel_of(self, token: str | None) -> str | None:
        for channel in self.channels:
            if token == recording_token(channel):
                return channel
        return None

    def replay_uri(self, channel: str) -> str:
        uri = f"{self.replay_base}/replay/{channel}"
        return self._advertised(uri)

    def _advertised(self, uri: str) -> str:
        if self.advertise_host is None:
            return uri
        parts = urlsplit(uri)
        if parts.hostname != "127.0.0.1":
            return uri
        netloc = self.advertise_host if parts.port is None else f"{self.advertise_host}:{parts.port}"
        if parts.username is not None:
            netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _source_name(self, channel: str) -> str:
        return self.names.get(channel, f"Camera {channel}")

    def _status(self, spans: list[Span]) -> str:
        if not spans:
            return "Stopped"
        recent = (self.device_now() - spans[-1][1]).total_seconds() <= RECORDING_NOW_S
        return "Recording" if recent else "Stopped"

    def _information(self, channel: str) -> str:
        """The inside of a tt:RecordingInformation for one channel."""
        spans = self.spans(channel)
        first = f"<tt:EarliestRecording>{_iso(spans[0][0])}</tt:EarliestRecording>" if spans else ""
        last = f"<tt:LatestRecording>{_iso(spans[-1][1])}</tt:LatestRecording>" if spans else ""
        data = (
            f"<tt:DataFrom>{_iso(spans[0][0])}</tt:DataFrom><tt:DataTo>{_iso(spans[-1][1])}</tt:DataTo>"
            if spans
            else ""
        )
        name = escape(self._source_name(channel))
        return (
            f"<tt:RecordingToken>{escape(recording_token(channel))}</tt:RecordingToken>"
            f"<tt:Source><tt:SourceId>{escape(channel)}</tt:SourceId><tt:Name>{name}</tt:Name>"
            "<tt:Location>Simulated site</tt:Location>"
            f"<tt:Description>Channel {escape(channel)}</tt:Description>"
            f"<tt:Address>{escape(self._advertised(f'{self.replay_base}/live/{channel}'))}</tt:Address></tt:Source>"
            f"{first}{last}<tt:Content>Continuous recording</tt:Content>"
            f"<tt:Track><tt:TrackToken>{TRACK_TOKEN}</tt:TrackToken><tt:TrackType>Video</tt:TrackType>"
            f"<tt:Description>Video track</tt:Description>{data}</tt:Track>"
            f"<tt:RecordingStatus>{self._status(spans)}</tt:RecordingStatus>"
        )

    def _scoped_channels(self, request: ET.Element) -> list[str]:
        """The channels a tt:SearchScope selects: IncludedSources (by SourceId) and IncludedRecordings."""
        scope = find_child(request, "Scope")
        wanted = list(self.channels)
        parts = [d for d in scope.iter() if isinstance(d.tag, str)] if scope is not None else []
        sources = [d for d in parts if local_name(d.tag) == "IncludedSources"]
        if sources:
            tokens = {t for source in sources for t in _all_text(source, "Token")}
            wanted = [c for c in wanted if c in tokens]
        recordings = set(_all_text(scope, "IncludedRecordings"))
        if recordings:
            wanted = [c for c in wanted if recording_token(c) in recordings]
        return wanted

    # -- searches --

    def _new_search(self, search: _Search) -> str:
        token = f"SearchToken_{secrets.token_hex(6)}"
        with self._search_lock:
            self._forget_stale()
            self._searches[token] = search
            self.searches_started += 1
        return token

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for token in [k for k, s in self._searches.items() if now - s.touched > s.keep_alive_s]:
            del self._searches[token]

    @property
    def open_searches(self) -> int:
        with self._search_lock:
            self._forget_stale()
            return len(self._searches)

    def _fault_reply(self, subsub: str | None, reason: str) -> HttpReply:
        return HttpReply(400, self._fault("Sender", "InvalidArgVal", subsub, reason))

    def _search(self, request: ET.Element, kind: str | None = None) -> tuple[str, _Search]:
        """(token, search); an unknown token (or one of the other kind) is answered with an InvalidToken fault."""
        token = child_text(request, "SearchToken") or ""
        with self._search_lock:
            self._forget_stale()
            search = self._searches.get(token)
            if search is None or (kind is not None and search.kind != kind):
                raise self._fault_reply("InvalidToken", "no such search")
            search.touched = time.monotonic()
        return token, search

    def _find_recordings(self, request: ET.Element) -> str:
        channels = self._scoped_channels(request)
        limit = _int(child_text(request, "MaxMatches"))
        if limit is not None:
            channels = channels[:limit]
        results = [f"<tt:RecordingInformation>{self._information(c)}</tt:RecordingInformation>" for c in channels]
        keep = duration_s(child_text(request, "KeepAliveTime"), self.keep_alive_s)
        search = _Search("recordings", results, [None] * len(results), None, keep, time.monotonic())
        return self._new_search(search)

    def _event(self, channel: str, moment: datetime, present: bool, start_state: bool) -> str:
        token = escape(recording_token(channel), _ATTR)
        value = "true" if present else "false"
        operation = "Initialized" if start_state else "Changed"
        return (
            f"<tt:Result><tt:RecordingToken>{escape(recording_token(channel))}</tt:RecordingToken>"
            f"<tt:TrackToken>{TRACK_TOKEN}</tt:TrackToken><tt:Time>{_iso(moment)}</tt:Time>"
            f'<tt:Event><wsnt:Topic Dialect="{TOPIC_DIALECT}">{TRACK_TOPIC}</wsnt:Topic><wsnt:Message>'
            f'<tt:Message UtcTime="{_iso(moment)}" PropertyOperation="{operation}"><tt:Source>'
            f'<tt:SimpleItem Name="RecordingToken" Value="{token}"/>'
            f'<tt:SimpleItem Name="Track" Value="{TRACK_TOKEN}"/></tt:Source>'
            f'<tt:Data><tt:SimpleItem Name="IsDataPresent" Value="{value}"/></tt:Data>'
            "</tt:Message></wsnt:Message></tt:Event>"
            f"<tt:StartStateEvent>{'true' if start_state else 'false'}</tt:StartStateEvent></tt:Result>"
        )

    @staticmethod
    def _topic_matches(request: ET.Element) -> bool:
        """Whether the SearchFilter's topic expression covers RecordingHistory/Track/State (no filter does)."""
        expressions = _all_text(find_child(request, "SearchFilter"), "TopicExpression")
        if not expressions:
            return True
        for expression in expressions:
            for alternative in expression.split("|"):
                path = alternative.strip().partition(":")[2] if ":" in alternative else alternative.strip()
                path = path.removesuffix("//.").rstrip("/")
                if path and "RecordingHistory/Track/State".startswith(path):
                    return True
        return False

    def _find_events(self, request: ET.Element) -> str:
        start = _parse_time(child_text(request, "StartPoint"))
        if start is None:
            raise self._fault_reply(None, "StartPoint is required")
        end = _parse_time(child_text(request, "EndPoint"))
        forward = end is None or end >= start
        low: datetime = start
        high: datetime | None = end
        if end is not None and not forward:
            low, high = end, start
        channels = self._scoped_channels(request) if self._topic_matches(request) else []
        include_start = (child_text(request, "IncludeStartState") or "").lower() == "true"
        found: list[tuple[datetime, int, str]] = []  # (time, channel order, fragment)
        starts: list[tuple[datetime, int, str]] = []
        for order, channel in enumerate(channels):
            spans = self.spans(channel)
            if include_start:
                present = any(s <= start < e for s, e in spans)
                starts.append((start, order, self._event(channel, start, present, True)))
            for span_start, span_end in spans:
                for moment, present in ((span_start, True), (span_end, False)):
                    if moment >= low and (high is None or moment <= high):
                        found.append((moment, order, self._event(channel, moment, present, False)))
        found.sort(key=lambda item: (item[0], item[1]))
        if not forward:  # latest first; a stable sort keeps one moment's events in channel order
            found.sort(key=lambda item: item[0], reverse=True)
        ordered = starts + found
        limit = _int(child_text(request, "MaxMatches"))
        if limit is not None:
            ordered = ordered[:limit]
        keep = duration_s(child_text(request, "KeepAliveTime"), self.keep_alive_s)
        search = _Search("events", [f for _, _, f in ordered], [t for t, _, _ in ordered], end, keep, time.monotonic())
        return self._new_search(search)

    def _results(self, request: ET.Element, kind: str) -> dict[str, str]:
        _, search = self._search(request, kind)
        wanted = _int(child_text(request, "MaxResults"))
        with self._search_lock:
            remaining = len(search.results) - search.sent
            count = remaining if wanted is None or wanted <= 0 else min(wanted, remaining)
            batch = search.results[search.sent : search.sent + count]
            search.sent += count
            state = "Completed" if search.sent >= len(search.results) else "Searching"
        return {"results": "".join(batch), "search_state": state}

    def _end_search(self, request: ET.Element) -> dict[str, str]:
        token, search = self._search(request)
        with self._search_lock:
            self._searches.pop(token, None)
        if search.sent >= len(search.results) and search.end_point is not None:
            endpoint = search.end_point
        else:
            reached = [t for t in search.times[: search.sent] if t is not None]
            endpoint = reached[-1] if reached else self.device_now()
        return {"endpoint": _iso(endpoint)}

    def _search_state(self, request: ET.Element) -> dict[str, str]:
        _, search = self._search(request)
        return {"search_state": "Completed" if search.sent >= len(search.results) else "Searching"}

    def _summary(self) -> dict[str, Any]:
        spans = [s for c in self.channels for s in self.spans(c)]
        if not spans:
            return {"data_from": "", "data_until": "", "recordings": len(self.channels)}
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        return {
            "data_from": f"<tt:DataFrom>{_iso(first)}</tt:DataFrom>",
            "data_until": f"<tt:DataUntil>{_iso(last)}</tt:DataUntil>",
            "recordings": len(self.channels),
        }

    def _recording_items(self) -> str:
        items = []
        for channel in self.channels:
            name = escape(self._source_name(channel))
            items.append(
                f"<trc:RecordingItem><tt:RecordingToken>{escape(recording_token(channel))}</tt:RecordingToken>"
                f"<tt:Configuration><tt:Source><tt:SourceId>{escape(channel)}</tt:SourceId><tt:Name>{name}</tt:Name>"
                "<tt:Location>Simulated site</tt:Location><tt:Description>Channel</tt:Description>"
                "<tt:Address>sim</tt:Address></tt:Source><tt:Content>Continuous recording</tt:Content>"
                "<tt:MaximumRetentionTime>PT0S</tt:MaximumRetentionTime></tt:Configuration>"
                f"<tt:Tracks><tt:Track><tt:TrackToken>{TRACK_TOKEN}</tt:TrackToken><tt:Configuration>"
                "<tt:TrackType>Video</tt:TrackType><tt:Description>Video track</tt:Description>"
                "</tt:Configuration></tt:Track></tt:Tracks></trc:RecordingItem>"
            )
        return "".join(items)

    # -- dispatch --

    def render(self, key: str, request: ET.Element, path: str = "/") -> str | None:
        action = key.rpartition(".")[2]
        namespace = namespace_of(request.tag)
        if action == "GetServiceCapabilities" and namespace in (NS_SEARCH, NS_REPLAY):
            key = "Search.GetServiceCapabilities" if namespace == NS_SEARCH else "Replay.GetServiceCapabilities"
        values: dict[str, Any] | None = None
        if action == "FindRecordings":
            values = {"search_token": self._find_recordings(request)}
        elif action == "FindEvents":
            values = {"search_token": self._find_events(request)}
        elif action == "GetRecordingSearchResults":
            values = self._results(request, "recordings")
        elif action == "GetEventSearchResults":
            values = self._results(request, "events")
        elif action == "GetSearchState":
            values = self._search_state(request)
        elif action == "EndSearch":
            values = self._end_search(request)
        elif action == "GetRecordingSummary":
            values = self._summary()
        elif action == "GetRecordingInformation":
            channel = self.channel_of(child_text(request, "RecordingToken"))
            if channel is None:
                raise self._fault_reply("InvalidToken", "no such recording")
            values = {"information": self._information(channel)}
        elif action == "GetRecordings":
            values = {"items": self._recording_items()}
        elif action == "GetReplayUri":
            channel = self.channel_of(child_text(request, "RecordingToken"))
            if channel is None:
                raise self._fault_reply("NoRecording", "no such recording")
            values = {"uri": escape(self.replay_uri(channel))}
        if values is None:
            body = super().render(key, request, path)
        else:
            template = self._templates.get(key)
            body = None if template is None else template.substitute(values)
        if body is not None and self.advertise_host is not None:
            body = body.replace(f"http://127.0.0.1:{self.port}", f"http://{self.advertise_host}:{self.port}")
        return body
