"""Fuzz target `viid`: what a GA/T 1400 platform sends the gateway (adapters/gat1400): the body of a
POST/PUT to /VIID/Subscribes (`parse_subscribe_list`), the IDList of a DELETE (`parse_id_list`), and
a time answer (`parse_time_any`).

The first byte picks the parser. Allowed: `Gat1400ProtocolError` (a 4xx with a ResponseStatus).
Invariants: an accepted subscription has an ID, and a ReceiveAddr (when it has one) that is an http(s)
URL or a path on the platform's own address; an accepted IDList is not empty; an accepted time is in
the years the standard's form can write.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.gat1400 import objects, subscribe


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind, rest = data[0] % 3, data[1:]
    try:
        if kind == 0:
            for item in subscribe.parse_subscribe_list(rest):
                if isinstance(item, subscribe.Subscribe):
                    check(bool(item.subscribe_id), "a subscription without an ID was accepted")
                    addr = item.receive_addr
                    path = addr is not None and addr.startswith("/") and not addr.startswith("//")
                    ok = addr is None or path or urlsplit(addr).scheme in ("http", "https")
                    check(ok, f"ReceiveAddr accepted: {addr!r:.60}")
        elif kind == 1:
            check(bool(subscribe.parse_id_list(rest.decode("utf-8", "replace"))), "an empty IDList accepted")
        else:
            moment = objects.parse_time_any(rest.decode("utf-8", "replace"))
            check(1970 <= moment.year < 10000, f"time out of range accepted: {moment!r}")
    except objects.Gat1400ProtocolError:
        return


if __name__ == "__main__":
    main(test_one_input)
