"""Fuzz target `manscdp`: MANSCDP XML bodies of MESSAGE/SUBSCRIBE requests (adapters/gb28181/manscdp.py).

Covers `manscdp.parse` (size limit, charset sniffing, defusedxml, required fields) and, for a
parsed Query, the answers the uplink builds from it (Catalog, DeviceInfo, DeviceStatus Response
and the subscription's Result), exactly as gateway/gb28181/service.py does with the query's SN
and DeviceID. Allowed: `ManscdpError` with status 400 or 413. Invariant: each answer parses again
with the query's SN and DeviceID, in both charsets we send.
"""

from __future__ import annotations

from datetime import datetime

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.gb28181 import manscdp

_NOW = datetime(2024, 5, 1, 8, 0, 0)


def _answers(query: manscdp.Manscdp, charset: manscdp.Charset) -> list[bytes]:
    sn, target = query.sn, query.device_id
    item = manscdp.CatalogItem(device_id=target, name=(query.field("Name") or "camera")[:200], parent_id=target)
    return [
        *manscdp.catalog_responses(sn, target, [item], 1, charset=charset),
        manscdp.device_info_response(
            sn, target, name="site", manufacturer="m", model="x", firmware="1", channels=1, charset=charset
        ),
        manscdp.device_status_response(sn, target, online=True, status_ok=True, device_time=_NOW, charset=charset),
        manscdp.result_response(query.cmd_type, sn, target, charset=charset),
    ]


def test_one_input(data: bytes) -> None:
    try:
        query = manscdp.parse(data)
    except manscdp.ManscdpError as exc:
        check(exc.status in (400, 413), f"unexpected ManscdpError status {exc.status}")
        return
    _ = (query.field("cmdtype"), query.field("Info"), query.field("StartTime"))
    if query.root != "Query":
        return
    for charset in ("GB2312", "UTF-8"):
        for body in _answers(query, charset):
            try:
                again = manscdp.parse(body)
            except manscdp.ManscdpError as exc:
                raise AssertionError(f"our {charset} answer does not parse: {exc}") from None
            check((again.sn, again.device_id) == (query.sn, query.device_id), "answer lost the SN or DeviceID")


if __name__ == "__main__":
    main(test_one_input)
