"""SIP dialogs as the UAS side sees them (RFC 3261 section 12): INVITE sessions and subscriptions.

The upper platform opens every dialog the gateway takes part in (INVITE for live video, SUBSCRIBE
for catalog and alarm notifications); the gateway answers, and later sends requests inside it:
BYE when a camera is lost, NOTIFY when a subscribed catalog changes. A `Dialog` holds what those
requests need, taken from the request that created it (section 12.1.1):

* the remote target: the Contact URI of that request (where our in-dialog requests go);
* the route set: its Record-Route values, in order (a UAS does not reverse them);
* local and remote URIs and tags: To and From of that request, swapped for our requests;
* our own CSeq counter, independent of the platform's (section 12.2.1.1).

Pure data and message building: no sockets, no timers. The user agent sends what it builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Final

from adapters.gb28181.sip import (
    DEFAULT_USER_AGENT,
    SipError,
    SipMessage,
    addr_uri,
    header_params,
    request,
    split_header_list,
)

__all__ = ["MAX_ROUTES", "Dialog", "DialogId"]

# A platform behind a proxy or two records a route or two; more is hostile or broken.
MAX_ROUTES: Final = 8

DialogId = tuple[str, str, str]  # (Call-ID, local tag, remote tag)


@dataclass
class Dialog:
    """One dialog the platform created; see the module doc."""

    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_tag: str
    remote_target: str
    route_set: tuple[str, ...] = ()
    _cseq: count[int] = field(default_factory=lambda: count(1), repr=False)

    @classmethod
    def as_uas(cls, req: SipMessage, local_tag: str) -> Dialog:
        """The dialog a request (INVITE, SUBSCRIBE) creates once we answer it 2xx with `local_tag`.

        Raises SipError(400) when the request lacks what a dialog needs (a From tag; RFC 3261
        section 12.1.1 allows a missing Contact only for requests outside a dialog, and we fall
        back to the From URI then, as some GB platforms leave Contact out).
        """
        from_value = req.get("From") or ""
        remote_tag = header_params(from_value).get("tag")
        if not remote_tag:
            raise SipError(400, "From tag missing")
        contact = req.get("Contact")
        remote_uri = addr_uri(from_value)
        target = addr_uri(split_header_list(contact)[0]) if contact and split_header_list(contact) else remote_uri
        if not target.lower().startswith(("sip:", "sips:")):
            raise SipError(400, "Contact is not a SIP URI")
        routes: list[str] = []
        for row in req.get_all("Record-Route"):
            routes.extend(split_header_list(row))
        if len(routes) > MAX_ROUTES:
            raise SipError(400, "too many Record-Route entries")
        return cls(
            call_id=req.call_id,
            local_uri=addr_uri(req.get("To") or ""),
            local_tag=local_tag,
            remote_uri=remote_uri,
            remote_tag=remote_tag,
            remote_target=target,
            route_set=tuple(routes),
        )

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    def matches(self, req: SipMessage) -> bool:
        """True for a request of the platform inside this dialog (its From tag is the remote tag)."""
        try:
            call_id = req.call_id
        except SipError:
            return False
        return call_id == self.call_id and req.from_tag == self.remote_tag and req.to_tag == self.local_tag

    def request(
        self,
        method: str,
        *,
        via_host: str,
        via_port: int,
        transport: str,
        extra_headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        user_agent: str | None = DEFAULT_USER_AGENT,
    ) -> SipMessage:
        """A request of ours inside the dialog (RFC 3261 section 12.2.1.1), with the next CSeq.

        With a route set whose first entry is a loose router (`;lr`, the only kind GB platforms
        use), the Request-URI is the remote target and the routes go into Route headers.
        """
        headers = [("Route", route) for route in self.route_set]
        headers += extra_headers or []
        return request(
            method,
            self.remote_target,
            via_host=via_host,
            via_port=via_port,
            transport=transport,
            from_uri=self.local_uri,
            from_tag=self.local_tag,
            to_uri=self.remote_uri,
            to_tag=self.remote_tag,
            call_id=self.call_id,
            cseq=next(self._cseq),
            extra_headers=headers,
            body=body,
            content_type=content_type,
            user_agent=user_agent,
        )
