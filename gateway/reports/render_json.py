"""The report as JSON: :meth:`Report.to_dict`'s data, byte for byte, written by orjson.

A long report's bulk is its cameras' outages and incidents (136,000 over 90 days of a badly kept
1,000-camera site). Made as dicts, their keys, ISO strings and rounded floats were most of the JSON's
time and a third of a million objects to free. Here each camera's list is written as JSON text and
handed to orjson as a :class:`orjson.Fragment`. The text is assembled column by column in one list of
pieces, by slice assignment and ``bytes.join`` (loops in C), from pieces that many rows share (the
key names, each hour and each minute-and-second of the ISO times, each distinct reason) and from the
rounded floats as orjson itself writes them. Few objects are made per row: in a long-running
process's fragmented heap each small object costs more than the work on it (the bench's turns
rendered in 0.24 s what took 0.33 s with a Python float and int per time). The rest of the report
stays dicts: it is small.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from gateway.reports.model import MINUTES, Incident, IsoFormatter, Outage, Report, round3_array

_START, _END, _ONGOING = operator.attrgetter("start"), operator.attrgetter("end"), operator.attrgetter("ongoing")
_MINUTES = [m.encode() for m in MINUTES]
_EMPTY = orjson.Fragment(b"[]")
# A row in pieces; the empty ones are filled per row: start, its ISO time (the date and hour, then the
# minute, second and offset with what follows), end, its ISO time, duration, the row's own fields
# (each distinct value written once) and whether it is ongoing, which closes the row.
_ROW = (b',{"start":', b"", b',"start_iso":"', b"", b"", b"", b',"end_iso":"', b"", b"", b"", b"", b"")
_WIDTH = len(_ROW)
_ONGOING_TEXT = (b"false}", b"true}")


def render_json(report: Report) -> bytes:
    # orjson: compact UTF-8, about 7x faster than the json module on a long report. to_dict() leaves no
    # NaN or infinity (orjson would write them as null); the outages' and incidents' times are finite
    # (their ISO times refuse anything else, as to_dict's do).
    iso = IsoFormatter(ZoneInfo(report.timezone))
    cameras = report.cameras
    outages = _lists([c.outages for c in cameras], iso, operator.attrgetter("reasons"), _reasons)
    incidents = _lists([c.incidents for c in cameras], iso, operator.attrgetter("fault", "detail"), _fault)
    return orjson.dumps(report.json_data(iso, outages, incidents))


def _reasons(reasons: Any) -> bytes:
    return b',"reasons":' + orjson.dumps(list(reasons)) + b',"ongoing":'


def _fault(key: Any) -> bytes:
    fault, detail = key
    # The fields as orjson writes them in a dict, without its braces.
    return b"," + orjson.dumps({"fault": fault, "detail": detail})[1:-1] + b',"ongoing":'


def _lists(
    groups: Sequence[Sequence[Outage] | Sequence[Incident]],
    iso: IsoFormatter,
    key: Callable[[Any], Hashable],
    fields: Callable[[Any], bytes],
) -> list[orjson.Fragment]:
    """Each group's JSON array of ``{"start", "start_iso", "end", "end_iso", "duration_s", ...}``
    objects, as to_dict makes them: ``fields(key(item))`` writes the row's own fields up to its
    ``"ongoing"``, with the comma before them."""
    items: list[Any] = [item for group in groups for item in group]
    count = len(items)
    if not count:
        return [_EMPTY] * len(groups)
    starts = np.fromiter(map(_START, items), np.float64, count)
    ends = np.fromiter(map(_END, items), np.float64, count)
    pieces = list(_ROW) * count
    pieces[1::_WIDTH] = _floats(round3_array(starts))
    pieces[5::_WIDTH] = _floats(round3_array(ends))
    pieces[9::_WIDTH] = _floats(round3_array(ends - starts))
    _iso_pieces(pieces, iso, np.concatenate((starts, ends)), count)
    keys = list(map(key, items))
    texts = {k: fields(k) for k in set(keys)}
    pieces[10::_WIDTH] = map(texts.__getitem__, keys)
    pieces[11::_WIDTH] = map(_ONGOING_TEXT.__getitem__, map(_ONGOING, items))
    out: list[orjson.Fragment] = []
    at = 0
    for group in groups:
        size = len(group)
        if not size:
            out.append(_EMPTY)
            continue
        first, last = at * _WIDTH, (at + size) * _WIDTH
        pieces[first] = b'[{"start":'
        pieces[last - 1] += b"]"
        out.append(orjson.Fragment(b"".join(pieces[first:last])))
        at += size
    return out


def _floats(values: np.ndarray) -> list[bytes]:
    """Each float as orjson writes it (one call for them all; the rounded floats never hold a comma).
    orjson writes an array's float64 as it writes a float, without making a Python float of each;
    tests/unit/test_report_render.py compares the bytes with to_dict's."""
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def _iso_pieces(pieces: list[bytes], iso: IsoFormatter, values: np.ndarray, count: int) -> None:
    """The ISO times of the starts (``values[:count]``) and ends (the rest) into their rows' pieces,
    with the text that follows each."""
    parts = iso.parts(values)
    if parts is None:  # each time by itself
        texts = [iso(v).encode() for v in values.tolist()]
        pieces[3::_WIDTH] = texts[:count]
        pieces[4::_WIDTH] = [b'","end":'] * count
        pieces[7::_WIDTH] = texts[count:]
        pieces[8::_WIDTH] = [b'","duration_s":'] * count
        return
    # Picked by index from arrays of the shared pieces: no Python int is made for each time.
    heads = _objects(h.encode() for h in parts.heads)
    # The minute and second with the offset after them, by offset: a zone has one or two at a time.
    offsets = sorted(set(parts.tails))
    tail_of = np.array([offsets.index(t) for t in parts.tails], np.int64)
    rest = tail_of[parts.which] * 3600 + parts.second
    for at, after, times in ((3, b'","end":', slice(0, count)), (7, b'","duration_s":', slice(count, None))):
        table = _objects(m + t.encode() + after for t in offsets for m in _MINUTES)
        pieces[at::_WIDTH] = heads[parts.which[times]].tolist()
        pieces[at + 1 :: _WIDTH] = table[rest[times]].tolist()


def _objects(values: Iterable[bytes]) -> np.ndarray:
    found = list(values)
    array = np.empty(len(found), object)
    array[:] = found
    return array
