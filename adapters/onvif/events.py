"""ONVIF events over a PullPoint subscription (WS-BaseNotification as profiled by ONVIF Core).

A subscription lives on the camera and dies with it: after a reboot or a missed renewal the
subscription address answers a fault or a 404 for ever. `watch_events` therefore treats any failing
pull or renew as "subscription lost" and creates a new one (with backoff) instead of retrying the old
address, which is the failure mode other ONVIF clients are known for.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Final, TypeVar
from xml.etree.ElementTree import Element, tostring
from xml.sax.saxutils import escape

from adapters.onvif.event_kinds import Classification, EventKind, classify
from adapters.onvif.soap import (
    NS_EVENTS,
    OnvifError,
    child,
    descendant,
    descendants,
    local_name,
    text_of,
    xsd_datetime,
)

if TYPE_CHECKING:
    from adapters.onvif.client import OnvifClient

__all__ = [
    "EventKind",
    "OnvifEvent",
    "PullPoint",
    "WatchStats",
    "create_pull_point",
    "parse_notifications",
    "watch_events",
]

log = logging.getLogger(__name__)

NS_WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"
NS_WSA: Final = "http://www.w3.org/2005/08/addressing"
_ACTION_CREATE: Final = f"{NS_EVENTS}/EventPortType/CreatePullPointSubscriptionRequest"
_ACTION_PULL: Final = f"{NS_EVENTS}/PullPointSubscription/PullMessagesRequest"
_ACTION_RENEW: Final = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest"
_ACTION_UNSUBSCRIBE: Final = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
MAX_ITEMS: Final = 32  # per Source/Data: a hostile reply cannot make us build huge dicts
MAX_VALUE_CHARS: Final = 256
MAX_MESSAGES: Final = 1000


@dataclass(frozen=True)
class OnvifEvent:
    topic: str  # namespace prefixes dropped: "RuleEngine/CellMotionDetector/Motion"
    utc: datetime | None
    source: dict[str, str]
    data: dict[str, str]
    operation: str | None = None  # PropertyOperation: Initialized (state at subscribe), Changed, Deleted

    @cached_property
    def classification(self) -> Classification:
        return classify(self.topic, self.data, self.operation)

    @property
    def kind(self) -> EventKind:
        """What the event means, from its topic and data items (event_kinds.RULES)."""
        return self.classification.kind

    @property
    def active(self) -> bool | None:
        """Whether the condition holds (tamper starts: True, clears: False); None when the message
        does not say (a count, an unknown item, an instant reported at subscription)."""
        return self.classification.active


# --- parsing ----------------------------------------------------------------------------------


def normalise_topic(raw: str) -> str:
    """'tns1:RuleEngine/CellMotionDetector/Motion' -> 'RuleEngine/CellMotionDetector/Motion'."""
    return "/".join(local_name(part.strip()) for part in raw.strip().split("/") if part.strip())


def _simple_items(el: Element | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if el is None:
        return out
    for item in descendants(el, "SimpleItem"):
        name, value = item.get("Name"), item.get("Value")
        if name and value is not None and len(out) < MAX_ITEMS:
            out[name[:MAX_VALUE_CHARS]] = value[:MAX_VALUE_CHARS]
    return out


def _event(notification: Element) -> OnvifEvent | None:
    topic = normalise_topic(text_of(notification, "Topic") or "")
    message = child(notification, "Message")
    inner = child(message, "Message")  # tt:Message inside wsnt:Message; some firmwares flatten it
    inner = message if inner is None else inner
    if not topic or inner is None:
        return None
    return OnvifEvent(
        topic=topic,
        utc=xsd_datetime(inner.get("UtcTime")),
        source=_simple_items(child(inner, "Source")),
        data=_simple_items(child(inner, "Data")),
        operation=inner.get("PropertyOperation"),
    )


def parse_notifications(body: Element) -> list[OnvifEvent]:
    """Events in a PullMessagesResponse (or any body holding wsnt:NotificationMessage); junk is skipped."""
    events: list[OnvifEvent] = []
    for notification in descendants(body, "NotificationMessage"):
        event = _event(notification)
        if event is not None:
            events.append(event)
        if len(events) >= MAX_MESSAGES:
            break
    return events


def _remaining_s(response: Element | None, fallback: float) -> float:
    """Subscription lifetime left, from TerminationTime - CurrentTime (both device clock, so skew cancels)."""
    current = xsd_datetime(text_of(descendant(response, "CurrentTime")))
    termination = xsd_datetime(text_of(descendant(response, "TerminationTime")))
    if current is None or termination is None:
        return fallback
    return max(0.0, (termination - current).total_seconds())


def _duration(seconds: float) -> str:
    return f"PT{max(1, int(seconds))}S"


# --- subscription -----------------------------------------------------------------------------


class PullPoint:
    """One PullPoint subscription on one camera. Any OnvifError from it may mean it is gone."""

    def __init__(self, client: OnvifClient, address: str, reference_headers: str, remaining_s: float) -> None:
        self.client = client
        self.address = address
        self._reference_headers = reference_headers  # ReferenceParameters, echoed as headers (WS-Addressing)
        self._expires = time.monotonic() + remaining_s

    @property
    def remaining_s(self) -> float:
        """Seconds until the camera drops this subscription unless renewed (local monotonic clock)."""
        return self._expires - time.monotonic()

    def _header(self, action: str) -> str:
        return (
            f'<wsa:Action xmlns:wsa="{NS_WSA}">{escape(action)}</wsa:Action>'
            f'<wsa:To xmlns:wsa="{NS_WSA}">{escape(self.address)}</wsa:To>{self._reference_headers}'
        )

    async def _call(self, action: str, body: str, timeout_s: float | None = None) -> Element:
        return await self.client.call(self.address, action, body, header=self._header(action), timeout_s=timeout_s)

    async def pull(self, timeout_s: float = 5.0, limit: int = 100) -> list[OnvifEvent]:
        """PullMessages: waits up to `timeout_s` on the camera for events, returns at most `limit`."""
        body = await self._call(
            _ACTION_PULL,
            f'<tev:PullMessages xmlns:tev="{NS_EVENTS}"><tev:Timeout>{_duration(timeout_s)}</tev:Timeout>'
            f"<tev:MessageLimit>{max(1, int(limit))}</tev:MessageLimit></tev:PullMessages>",
            # The camera holds the request for up to timeout_s before answering: allow for that.
            timeout_s=timeout_s + self.client.timeout_s,
        )
        response = descendant(body, "PullMessagesResponse")
        if response is None:
            raise OnvifError("bad response", "PullMessages without PullMessagesResponse")
        if descendant(response, "TerminationTime") is not None:  # some cameras extend the lifetime on pulls
            self._expires = time.monotonic() + _remaining_s(response, self.remaining_s)
        return parse_notifications(response)[: max(1, int(limit))]

    async def renew(self, termination_s: float = 60.0) -> None:
        body = await self._call(
            _ACTION_RENEW,
            f'<wsnt:Renew xmlns:wsnt="{NS_WSNT}"><wsnt:TerminationTime>{_duration(termination_s)}'
            "</wsnt:TerminationTime></wsnt:Renew>",
        )
        response = descendant(body, "RenewResponse")
        if response is None:
            raise OnvifError("bad response", "Renew without RenewResponse")
        self._expires = time.monotonic() + _remaining_s(response, termination_s)

    async def unsubscribe(self) -> None:
        await self._call(_ACTION_UNSUBSCRIBE, f'<wsnt:Unsubscribe xmlns:wsnt="{NS_WSNT}"/>')
        self._expires = time.monotonic()


def _reference_headers(reference: Element | None) -> str:
    params = child(reference, "ReferenceParameters")
    if params is None:
        return ""
    return "".join(tostring(p, encoding="unicode") for p in params if isinstance(p.tag, str))[:4096]


async def create_pull_point(client: OnvifClient, termination_s: float = 60.0) -> PullPoint:
    """CreatePullPointSubscription on the camera's events service (OnvifError "not supported" without one)."""
    services = await client.services()
    url = services.get(NS_EVENTS)
    if url is None:
        raise OnvifError("not supported", "the device offers no events service")
    body = await client.call(
        url,
        _ACTION_CREATE,
        f'<tev:CreatePullPointSubscription xmlns:tev="{NS_EVENTS}">'
        f"<tev:InitialTerminationTime>{_duration(termination_s)}</tev:InitialTerminationTime>"
        "</tev:CreatePullPointSubscription>",
    )
    response = descendant(body, "CreatePullPointSubscriptionResponse")
    reference = child(response, "SubscriptionReference") if response is not None else None
    address = text_of(reference, "Address")
    if response is None or address is None:
        raise OnvifError("bad response", "CreatePullPointSubscription without a subscription address")
    # Cameras behind NAT report their private address here too.
    return PullPoint(
        client, client.rebase(address), _reference_headers(reference), _remaining_s(response, termination_s)
    )


# --- the watch loop ---------------------------------------------------------------------------

T = TypeVar("T")
EventHandler = Callable[[OnvifEvent], Awaitable[None] | None]


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Run `work`, but give up (cancelling it) as soon as `stop` is set; None then."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.result() if task.done() and not task.cancelled() else None


async def _sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _deliver(events: list[OnvifEvent], on_event: EventHandler) -> None:
    for event in events:
        try:
            result = on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a consumer bug must not tear down the camera's subscription
            log.exception("ONVIF event handler failed for %s", event.topic)


@dataclass
class WatchStats:
    subscriptions: int = 0  # subscriptions created (1 + how often one was lost and re-created)
    renewals: int = 0
    events: int = 0
    last_error: str | None = None


async def _pump(
    pp: PullPoint, on_event: EventHandler, stop: asyncio.Event, cfg: _WatchConfig, stats: WatchStats
) -> None:
    """Pull and renew until stopped; an OnvifError escaping from here means the subscription is lost."""
    while not stop.is_set():
        if pp.remaining_s < cfg.renew_margin_s:
            await pp.renew(cfg.termination_s)
            stats.renewals += 1
        # Never long-poll past the point where the renewal is due.
        wait = max(1.0, min(cfg.pull_timeout_s, pp.remaining_s - cfg.renew_margin_s))
        events = await _unless_stopped(pp.pull(wait, cfg.limit), stop)
        if events:
            stats.events += len(events)
            await _deliver(events, on_event)


@dataclass(frozen=True)
class _WatchConfig:
    termination_s: float
    pull_timeout_s: float
    renew_margin_s: float
    limit: int


async def watch_events(
    client: OnvifClient,
    on_event: EventHandler,
    *,
    stop: asyncio.Event,
    termination_s: float = 60.0,
    pull_timeout_s: float = 5.0,
    limit: int = 100,
    backoff_s: tuple[float, float] = (1.0, 60.0),
    stats: WatchStats | None = None,
) -> WatchStats:
    """Deliver the camera's events to `on_event` until `stop` is set.

    Renews `renew_margin` (a quarter of the lifetime, at least 2 s) before termination. When a pull or
    renew fails the subscription is considered lost (camera rebooted, lease expired) and a new one is
    created, waiting backoff_s[0], doubling up to backoff_s[1] while creating keeps failing.
    """
    stats = stats if stats is not None else WatchStats()
    cfg = _WatchConfig(termination_s, pull_timeout_s, max(2.0, termination_s / 4), limit)
    delay = backoff_s[0]
    while not stop.is_set():  # one iteration per subscription
        try:
            pp = await _unless_stopped(create_pull_point(client, termination_s), stop)
        except OnvifError as exc:
            stats.last_error = str(exc)
            log.warning("ONVIF subscription failed, retrying in %.0f s: %s", delay, exc)
            await _sleep_unless_stopped(delay, stop)
            delay = min(delay * 2, backoff_s[1])
            continue
        if pp is None:  # stopped while subscribing
            break
        stats.subscriptions += 1
        started = time.monotonic()
        try:
            await _pump(pp, on_event, stop, cfg, stats)
        except OnvifError as exc:
            stats.last_error = str(exc)
            log.warning("ONVIF subscription lost, re-creating in %.1f s: %s", delay, exc)
            await _sleep_unless_stopped(delay, stop)
            # A subscription that lived a full lease was healthy: start backing off afresh. One that
            # dies at once (broken firmware) must not have us hammering the camera.
            healthy = time.monotonic() - started > termination_s
            delay = backoff_s[0] if healthy else min(delay * 2, backoff_s[1])
            continue
        # Stopped: release the camera's slot (cameras allow only a few subscriptions); best effort.
        with contextlib.suppress(OnvifError, TimeoutError):
            await asyncio.wait_for(pp.unsubscribe(), timeout=client.timeout_s)
    return stats
