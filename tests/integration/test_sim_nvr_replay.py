"""The simulated NVR's replay: recordings on disk played by the GStreamer RTSP server, found by ONVIF.

Two kinds of client: PyAV (FFmpeg), which cannot send ONVIF's replay headers and so names the span in
the URL (`?starttime=...&endtime=...`), and tests/support/rtspreplay.py, which sends `Require:
onvif-replay`, `Range: clock=...` and `Scale` and reads each packet's recorded time from the ONVIF RTP
header extension. The replay's timeline is NTP time, so PyAV's frame times are seconds since 1900.
"""

from __future__ import annotations

import itertools
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import av
import pytest

from sim.nvr import NvrDeviceServer
from sim.recordings import RecordingStore, make_recordings
from sim.server import RtspServerProcess
from tests.support.rtspreplay import RtspReplayClient

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 2, 40, 12, tzinfo=UTC)
YESTERDAY = datetime(2026, 12, 6, tzinfo=UTC)
CHANNELS = ("ch1", "ch2", "ch3")
NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
GOP = timedelta(seconds=1)  # the recording clip's keyframe interval
FRAME = timedelta(milliseconds=100)  # 10 fps


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RecordingStore:
    return make_recordings(tmp_path_factory.mktemp("nvr"), CHANNELS, days=4, now=NOW)


@pytest.fixture(scope="module")
def rtsp(store: RecordingStore) -> Iterator[RtspServerProcess]:
    with RtspServerProcess([], replays=[(f"/replay/{c}", store.root / c) for c in CHANNELS]) as server:
        yield server


def replay_uri(store: RecordingStore, rtsp: RtspServerProcess, token: str) -> str:
    """What the NVR answers to GetReplayUri (a plain SOAP request, no WS-Security: auth is off)."""
    nvr = NvrDeviceServer(store.root, CHANNELS, "admin", "pw", replay_base=f"rtsp://127.0.0.1:{rtsp.port}", auth="none")
    body = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:trp="http://www.onvif.org/ver10/replay/wsdl"><s:Body><trp:GetReplayUri>'
        f"<trp:StreamSetup/><trp:RecordingToken>{token}</trp:RecordingToken></trp:GetReplayUri></s:Body></s:Envelope>"
    )
    with nvr:
        request = urllib.request.Request(f"http://127.0.0.1:{nvr.port}/onvif/replay_service", body.encode())
        with urllib.request.urlopen(request, timeout=5) as reply:
            found = ET.fromstring(reply.read()).find(".//{http://www.onvif.org/ver10/replay/wsdl}Uri")
    assert found is not None and found.text
    return found.text


def test_pyav_plays_a_vendor_style_replay_url(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    start = YESTERDAY + timedelta(hours=8, seconds=5)
    end = start + timedelta(seconds=3)
    uri = replay_uri(store, rtsp, "REC_ch3")
    assert uri == rtsp.url("/replay/ch3")
    url = f"{uri}?starttime={start:%Y%m%dT%H%M%SZ}&endtime={end:%Y%m%dT%H%M%SZ}"
    with av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"}) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        frames = [(f.time, f.key_frame) for f in container.decode(stream)]  # ends with the span
    assert frames[0][1]  # a keyframe first
    # FFmpeg leaves the first frame of an RTSP session without a timestamp; the others are NTP seconds.
    times = [NTP_EPOCH + timedelta(seconds=t) for t, _ in frames[1:] if t is not None]
    assert start < times[0] <= start + GOP
    assert times[0] - FRAME == start  # the first frame stands for the start asked for
    assert len(frames) == 30 and times[-1] == end - FRAME


def test_onvif_replay_starts_within_a_gop_of_the_clock_range(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    start = YESTERDAY + timedelta(hours=9, minutes=15, seconds=41, milliseconds=700)
    with RtspReplayClient(replay_uri(store, rtsp, "REC_ch2")) as client:
        assert client.describe().status == 200
        assert client.setup().status == 200
        play = client.play(start)
        assert play.status == 200
        assert play.headers["range"].startswith("clock=20261206T091541")
        packets = client.packets(60)
    first = packets[0]
    assert first.recorded is not None and first.clean_point and first.discontinuity
    assert start - GOP < first.recorded <= start
    assert first.nal_type in (5, 7, 9, 24)  # IDR, or what opens one: parameter sets, delimiter, STAP-A
    recorded = sorted({p.recorded for p in packets if p.recorded is not None})
    assert all(b - a == FRAME for a, b in itertools.pairwise(recorded))


def test_onvif_replay_skips_the_gap(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    """ch1 did not record 10:30 to 12:30 yesterday: the next frame after 10:29:59.9 is 12:30:00, marked."""
    with RtspReplayClient(rtsp.url("/replay/ch1")) as client:
        client.describe()
        client.setup()
        client.play(YESTERDAY + timedelta(hours=10, minutes=29, seconds=58))
        packets = client.packets(300)
    split = YESTERDAY + timedelta(hours=11)
    before = [p for p in packets if p.recorded is not None and p.recorded < split]
    after = [p for p in packets if p.recorded is not None and p.recorded >= split]
    assert before[-1].recorded == YESTERDAY + timedelta(hours=10, minutes=30) - FRAME
    assert any(p.end for p in before)  # E: the last packet of a stretch of recording
    assert after[0].recorded == YESTERDAY + timedelta(hours=12, minutes=30)
    assert after[0].discontinuity and after[0].clean_point


def test_onvif_replay_at_twice_the_speed_ends_with_the_range(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    start = YESTERDAY + timedelta(hours=15)
    end = start + timedelta(seconds=6)
    with RtspReplayClient(rtsp.url("/replay/ch3")) as client:
        client.describe()
        client.setup()
        began = time.monotonic()
        play = client.play(start, end, scale=2.0)
        packets = client.packets(10_000)
        took = time.monotonic() - began
    assert play.headers.get("scale") == "2.000"
    assert client.ended  # RTCP BYE at the end of the range
    recorded = [p.recorded for p in packets if p.recorded is not None]
    assert recorded[0] == start and max(recorded) == end - FRAME
    assert any(p.terminal for p in packets)  # T: the last of the range
    assert 2.0 < took < 5.5  # 6 s of recording in about 3 s (real time would be 6)


def test_a_range_past_the_recordings_ends_at_once(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    with RtspReplayClient(rtsp.url("/replay/ch2")) as client:
        client.describe()
        client.setup()
        assert client.play(NOW + timedelta(hours=1)).status == 200
        assert client.packets(10) == []
        assert client.ended
    with RtspReplayClient(rtsp.url("/replay/ch2")) as client:  # the server is still there
        client.describe()
        client.setup()
        client.play(YESTERDAY)
        first = client.packets(1)[0]
    assert first.recorded == YESTERDAY


def test_the_missing_day_replays_from_the_next_recording(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    with RtspReplayClient(rtsp.url("/replay/ch2")) as client:
        client.describe()
        client.setup()
        client.play(YESTERDAY - timedelta(hours=12))  # noon of the day ch2 did not record
        first = client.packets(1)[0]
    assert first.recorded == YESTERDAY and first.discontinuity


def test_new_sessions_see_segments_removed_from_disk(tmp_path: Path, store: RecordingStore) -> None:
    made = make_recordings(
        tmp_path, ("x",), days=1, gaps=[], now=YESTERDAY + timedelta(hours=3), clip_dir=store.clip.parent
    )
    with RtspServerProcess([], replays=[("/replay/x", made.root / "x")]) as server:
        (made.root / "x" / "20261206T010000Z_3600s.mkv").unlink()
        with RtspReplayClient(server.url("/replay/x")) as client:
            client.describe()
            client.setup()
            client.play(YESTERDAY + timedelta(hours=1, minutes=20))
            first = client.packets(1)[0]
    assert first.recorded == YESTERDAY + timedelta(hours=2)


def test_a_replay_url_with_nothing_recorded_is_refused(store: RecordingStore, rtsp: RtspServerProcess) -> None:
    missing_day = YESTERDAY - timedelta(days=1)  # ch2 recorded nothing that day
    url = f"{rtsp.url('/replay/ch2')}?starttime={missing_day:%Y%m%dT%H%M%SZ}&endtime={YESTERDAY:%Y%m%dT%H%M%SZ}"
    began = time.monotonic()
    with pytest.raises(av.FFmpegError):
        av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"})
    assert time.monotonic() - began < 4.0  # an answer, not a timeout
    with RtspReplayClient(rtsp.url("/replay/ch2")) as client:  # and the server still serves the others
        assert client.describe().status == 200
