"""MANSRTSP, the playback commands a platform sends in INFO (adapters/gb28181/mansrtsp.py), and the
MediaStatus Notify that ends a playback."""

from __future__ import annotations

import pytest

from adapters.gb28181 import manscdp, mansrtsp
from adapters.gb28181.mansrtsp import Command, MansrtspError


@pytest.mark.parametrize(
    ("body", "command"),
    [
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 2\r\nScale: 2.0\r\n", Command("PLAY", 2, None, 2.0)),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 3\r\nRange: npt=100-\r\n", Command("PLAY", 3, 100.0, None)),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 4\r\nRange: npt=now-\r\n", Command("PLAY", 4, None, None)),
        (b"PLAY MANSRTSP/1.0\nCSeq: 5\nRange: npt=12.5-30\nScale: 0.5\n", Command("PLAY", 5, 12.5, 0.5)),
        (b"PAUSE MANSRTSP/1.0\r\nCSeq: 6\r\nPauseTime: now\r\n", Command("PAUSE", 6)),
        (b"teardown MANSRTSP/1.0\r\nCSeq: 7\r\n", Command("TEARDOWN", 7)),
    ],
    ids=["scale", "seek", "resume", "lf-only-seek-and-scale", "pause", "teardown"],
)
def test_commands_platforms_send(body: bytes, command: Command) -> None:
    assert mansrtsp.parse(body) == command


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"GET / HTTP/1.1\r\n", 400),
        (b"PLAY RTSP/1.0\r\nCSeq: 1\r\n", 400),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: one\r\n", 400),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 1\r\nRange: clock=20240101T000000Z-\r\n", 400),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 1\r\nScale: fast\r\n", 400),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 1\r\nScale: 0\r\n", 400),
        (b"PLAY MANSRTSP/1.0\r\nCSeq: 1\r\nno colon here\r\n", 400),
        (b"\xff\xfe", 400),
        (b"PLAY MANSRTSP/1.0\r\n" + b"X: y\r\n" * 1000, 413),
    ],
)
def test_malformed_commands_are_refused_with_a_status(body: bytes, status: int) -> None:
    with pytest.raises(MansrtspError) as caught:
        mansrtsp.parse(body)
    assert caught.value.status == status


def test_reverse_and_extreme_speeds_become_the_nearest_served() -> None:
    assert mansrtsp.servable_scale(-2.0) == 2.0
    assert mansrtsp.servable_scale(1000) == mansrtsp.MAX_SCALE
    assert mansrtsp.servable_scale(0.001) == mansrtsp.MIN_SCALE


def test_media_status_notify_reads_back() -> None:
    body = manscdp.parse(manscdp.media_status_notify(8, "34020000001320000001"))
    assert (body.root, body.cmd_type, body.sn, body.device_id) == ("Notify", "MediaStatus", 8, "34020000001320000001")
    assert body.field("NotifyType") == "121"
