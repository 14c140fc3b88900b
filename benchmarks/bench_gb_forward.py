"""CPU per forwarded 1080p 4 Mbit/s stream: GB/T 28181 PS mux + RTP send vs `ffmpeg -c copy` to RTP/MPEG-TS.

    .venv/bin/python -m benchmarks.bench_gb_forward --streams 10 25 50 --ffmpeg 1:mkv 10:mkv 10:h264 --seconds 20

Ours: N streams in one Python process (asyncio, one task per stream), each paced at 25 fps over the
clip's access units, which are demuxed into memory first (a camera's packets arrive in memory too:
this measures mux + send, not file reading). Each frame goes through PsMuxer and RtpPacketizer and
every RTP packet is sent with `sendto` on the stream's own non-blocking, unconnected UDP socket.
Baseline: N `ffmpeg -re -stream_loop -1 -i CLIP -c copy -f rtp_mpegts udp://...` processes, the
usual way to forward a stream without re-encoding. Input "mkv" gives ffmpeg the same access units
already framed (the fair comparison: no start-code scanning); "h264" is the raw Annex-B file, which
ffmpeg must parse into access units on top (concatenated rather than looped, see repeat_raw).
Both send to one receiver process on 127.0.0.1 that drains and counts (its CPU is reported apart).
CPU is the senders' on-CPU time (user + system, from /proc schedstat) over the window, cut into
slices; the median slice is quoted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import numpy as np

from adapters.common.media import AudioInfo, Packet
from adapters.gb28181.media import MediaSender, MediaTarget
from adapters.gb28181.ps import PsMuxer
from adapters.gb28181.rtp import RtpPacketizer
from benchmarks.common import REPO, median
from gateway.pipeline.bus import PacketBus, Subscription
from sim.clips import make_clips

FPS = 25
GOP = 50
BITRATE = 4_000_000
CLIP_SECONDS = 10
CLIP_NAME = "gb_forward_1080p_4m"
# Bump when the clip recipe changes, so the cached clip is rebuilt.
CLIP_VERSION = 1
# Uniform luma noise amplitude (levels): a camera at moderate gain. Without it the synthetic scene
# compresses to ~1.2 Mbit/s and a 4 Mbit/s CBR encoder would pad with filler NAL units instead.
GRAIN = 24
RTP_FRAME_TICKS = 90_000 // FPS

AccessUnits = list[tuple[bytes, bool]]


# --- the clip ----------------------------------------------------------------------------------------


def make_clip(out_dir: Path) -> Path:
    """A 10 s 1080p25 H.264 clip at ~4 Mbit/s CBR, GOP 50, no B-frames, Annex-B; cached in out_dir.

    Pictures: the simulator's entrance scene (people walking, OSD clock), played forward and then
    back (so the loop has no jump), with fresh grain on every frame so the encoder really spends
    the bits, as a real 1080p camera does.
    """
    target = out_dir / f"{CLIP_NAME}.h264"
    sidecar = out_dir / f"{CLIP_NAME}.json"
    recipe = {"version": CLIP_VERSION, "fps": FPS, "gop": GOP, "bitrate": BITRATE, "seconds": CLIP_SECONDS}
    with contextlib.suppress(OSError, ValueError):
        if target.stat().st_size > 0 and json.loads(sidecar.read_text()) == recipe:
            return target
    source = make_clips(out_dir, names={"hd_h264"})["hd_h264"]
    with av.open(str(source.path), format="h264") as src:
        pictures = [f.to_ndarray(format="yuv420p") for f in src.decode(video=0)]
    frames = FPS * CLIP_SECONDS
    order = list(range(len(pictures))) + list(range(len(pictures) - 2, 0, -1))
    rng = np.random.default_rng(28181)
    height = source.height
    kbps = BITRATE // 1000
    tmp = target.with_suffix(".part")
    with av.open(str(tmp), mode="w", format="h264") as dst:
        stream = dst.add_stream(
            "libx264",
            rate=FPS,
            options={
                "preset": "veryfast",
                # nal-hrd=cbr: a constant 4 Mbit/s, as cameras are usually set; the grain keeps filler low.
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:repeat-headers=1:"
                f"nal-hrd=cbr:vbv-maxrate={kbps}:vbv-bufsize={kbps}",
            },
        )
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        stream.thread_type = "FRAME"  # slice threads would cut each picture into slices
        stream.bit_rate = BITRATE
        for n in range(frames):
            i420 = pictures[order[n % len(order)]].astype(np.int16)
            luma = i420[:height]
            luma += rng.integers(-GRAIN // 2, GRAIN // 2 + 1, size=luma.shape, dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(i420, 0, 255).astype(np.uint8), format="yuv420p")
            frame.pts = n
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    tmp.replace(target)
    sidecar.write_text(json.dumps(recipe) + "\n")
    return target


def remux_mkv(clip: Path) -> Path:
    """The same access units in Matroska: ffmpeg then reads framed packets, as our forwarder gets them."""
    target = clip.with_suffix(".mkv")
    if not target.exists() or target.stat().st_mtime < clip.stat().st_mtime:
        subprocess.run(
            ["ffmpeg", "-y", "-v", "error", "-framerate", str(FPS), "-i", str(clip), "-c", "copy", str(target)],
            check=True,
        )
    return target


def repeat_raw(clip: Path, seconds: float) -> Path:
    """The raw clip concatenated to last `seconds`: ffmpeg 5.1 cannot `-stream_loop` a raw H.264
    file (the seek back fails with EPERM and the process stalls), and the clip's closed GOPs with
    in-band SPS/PPS make plain concatenation a valid stream."""
    times = -(-int(seconds) // CLIP_SECONDS)
    target = clip.with_name(f"{clip.stem}-x{times}.h264")
    if not target.exists() or target.stat().st_mtime < clip.stat().st_mtime:
        target.write_bytes(clip.read_bytes() * times)
    return target


def access_units(clip: Path) -> AccessUnits:
    """(Annex-B access unit, keyframe) for every picture of the clip, in decode order."""
    with av.open(str(clip), format="h264") as src:
        return [(bytes(p), bool(p.is_keyframe)) for p in src.demux(video=0) if p.size]


# --- the receiver ------------------------------------------------------------------------------------


def receiver_main(port: int, counts: Any, stop: Any) -> None:
    """Drain 127.0.0.1:port and count bytes and packets, so the senders never see ICMP unreachable
    and the rates actually delivered can be checked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.2)
    buf = bytearray(65536)
    recv_into = sock.recv_into
    size = packets = 0
    while not stop.is_set():
        try:
            # Batches between counter updates keep the shared-memory writes off the per-packet path.
            for _ in range(256):
                size += recv_into(buf)
                packets += 1
        except TimeoutError:
            pass
        counts[0], counts[1] = size, packets


# --- our forwarder -----------------------------------------------------------------------------------


def forwarder_main(aus: AccessUnits, streams: int, port: int, counters: Any, stop: Any) -> None:
    """N paced streams in one asyncio loop. counters[i] = frames sent by stream i; counters[n] and
    [n+1] = packets sent and packets refused by a full socket buffer; [n+2] = frames started
    more than one frame period late; [n+3] = the worst lateness, in µs (the parent resets it)."""
    asyncio.run(_forward(aus, streams, port, counters, stop))


async def _forward(aus: AccessUnits, streams: int, port: int, counters: Any, stop: Any) -> None:
    loop = asyncio.get_running_loop()
    period = 1 / FPS
    dest = ("127.0.0.1", port)
    start = loop.time() + 0.1

    async def one(index: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        # Unconnected: sendto never reports a stale ICMP error as it would on a connected socket.
        sendto = sock.sendto
        muxer = PsMuxer("h264")
        packetizer = RtpPacketizer(ssrc=100_000_000 + index)
        # Cameras are not in phase: spread the streams' frame instants over one frame period.
        due = start + index * period / streams
        n = 0
        sent = refused = late = 0
        try:
            while not stop.is_set():
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    # Behind schedule (the process was not scheduled in time): send at once, as a
                    # forwarder does with video that has already arrived, and record how late.
                    late += delay < -period
                    counters[streams + 3] = max(counters[streams + 3], int(-delay * 1e6))
                au, key = aus[n % len(aus)]
                pts = n * RTP_FRAME_TICKS
                for packet in packetizer.packetize(muxer.mux(au, pts, key), pts):
                    try:
                        sendto(packet, dest)
                        sent += 1
                    except BlockingIOError:
                        refused += 1  # a real forwarder drops too: late video is useless
                n += 1
                counters[index] = n
                # Shared-memory counters are updated once per frame, not per packet.
                counters[streams] += sent
                counters[streams + 1] += refused
                counters[streams + 2] += late
                sent = refused = late = 0
                due += period
        finally:
            sock.close()

    await asyncio.gather(*(one(i) for i in range(streams)))


def session_main(aus: AccessUnits, streams: int, port: int, counters: Any, stop: Any) -> None:
    """The product's path: per stream a camera PacketBus, fed by a reader-like thread, a bus
    subscription and a MediaSender (what a GB/T 28181 live session runs). counters as forwarder_main;
    packets refused and lateness are not observable from outside the sender and stay 0."""
    asyncio.run(_sessions(aus, streams, port, counters, stop))


def session_audio_main(aus: AccessUnits, streams: int, port: int, counters: Any, stop: Any) -> None:
    """As session_main, each camera with a microphone: two 20 ms G.711 A-law frames (160 bytes) per
    picture on its bus, carried inside the PS."""
    asyncio.run(_sessions(aus, streams, port, counters, stop, audio=True))


async def _sessions(aus: AccessUnits, streams: int, port: int, counters: Any, stop: Any, audio: bool = False) -> None:
    buses = [PacketBus(f"cam{i}") for i in range(streams)]
    sound = AudioInfo("pcma", 8000, 1, Fraction(1, 8000), None) if audio else None
    senders = [
        MediaSender(
            MediaTarget(transport="udp", ssrc=100_000_000 + i, remote_ip="127.0.0.1", remote_port=port),
            "h264",
            audio=sound,
        )
        for i in range(streams)
    ]
    subs = [bus.subscribe(f"gb:{i}", 768 if audio else 256, audio=audio) for i, bus in enumerate(buses)]
    tone = bytes(range(160))

    async def packets(sub: Subscription) -> AsyncIterator[Packet]:
        async for packet in sub:
            yield packet

    def reader() -> None:
        # One thread stands for the camera readers: it publishes each stream's frame at its instant,
        # the streams spread over one frame period as unsynchronised cameras are.
        period = 1 / FPS
        start = time.monotonic() + 0.1
        n = 0
        while not stop.is_set():
            for i, bus in enumerate(buses):
                due = start + n * period + i * period / streams
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                au, key = aus[n % len(aus)]
                bus.publish(Packet(bus.camera_id, "h264", n, n, Fraction(1, FPS), key, au, time.monotonic()))
                if audio:  # the picture's 40 ms of sound, as it arrives beside it
                    for k in (0, 1):
                        pts = 320 * n + 160 * k
                        bus.publish(Packet(bus.camera_id, "pcma", pts, pts, Fraction(1, 8000), True, tone, 0.0))
            n += 1
        for sub in subs:
            sub.close()

    async def count() -> None:
        while not stop.is_set():
            for i, sender in enumerate(senders):
                counters[i] = sender.stats.frames_sent
            counters[streams] = sum(x.stats.packets_sent for x in senders)
            await asyncio.sleep(0.2)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    counting = asyncio.create_task(count())
    await asyncio.gather(*(sender.run(packets(sub)) for sender, sub in zip(senders, subs, strict=True)))
    counting.cancel()
    thread.join(2)


# --- measuring ---------------------------------------------------------------------------------------


def cpu_ns(pids: Sequence[int]) -> int:
    """On-CPU time of the processes, all threads, in ns (schedstat). The user + system ticks of
    /proc/PID/stat are 10 ms apart: a single ffmpeg at ~1 % of a core would get a handful of ticks
    per slice, so the scheduler's nanosecond counter is read instead."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                total += int((task / "schedstat").read_text().split()[0])
    return total


def user_sys_ticks(pids: Sequence[int]) -> tuple[int, int]:
    """(user, system) clock ticks of the processes: only for the system share of a whole window."""
    user = system = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    return user, system


@dataclass
class Result:
    kind: str  # "ours" or "ffmpeg-mkv" / "ffmpeg-h264"
    streams: int
    cpu_cores: float  # median over the window's slices
    cpu_cores_slices: list[float]
    ms_cpu_per_stream_s: float
    streams_per_core: float
    system_share: float  # of the senders' CPU time: the kernel's UDP/loopback path
    fps_min: float
    fps_median: float
    received_mbps_per_stream: float
    received_packets_s: float
    receiver_cpu_cores: float
    refused_packets: int = 0
    late_frames: int = 0  # started more than one frame period after their due time
    worst_lateness_ms: int = 0


@dataclass
class Window:
    shares: list[float]  # CPU cores per slice
    fps: list[float]  # frames sent per second, per stream
    bytes_s: float  # received by the receiver
    packets_s: float
    receiver_cores: float
    system_share: float  # of the senders' CPU time (from 10 ms ticks over the whole window)


def measure(
    pids: Sequence[int],
    frames: Callable[[], list[float]],
    received: Callable[[], tuple[float, float]],
    receiver_pid: int,
    seconds: float,
    slices: int,
) -> Window:
    """CPU, pacing and delivery of the senders `pids` over `seconds`."""
    ticks0, rcpu0 = user_sys_ticks(pids), cpu_ns([receiver_pid])
    cpu0, f0, (b0, p0), t0 = cpu_ns(pids), frames(), received(), time.monotonic()
    shares = []
    last_cpu, last_t = cpu0, t0
    for k in range(1, slices + 1):
        time.sleep(max(0.0, t0 + seconds * k / slices - time.monotonic()))
        now_cpu, now_t = cpu_ns(pids), time.monotonic()
        shares.append((now_cpu - last_cpu) / 1e9 / (now_t - last_t))
        last_cpu, last_t = now_cpu, now_t
    f1, (b1, p1), t1 = frames(), received(), time.monotonic()
    ticks1, rcpu1 = user_sys_ticks(pids), cpu_ns([receiver_pid])
    elapsed = t1 - t0
    user, system = ticks1[0] - ticks0[0], ticks1[1] - ticks0[1]
    return Window(
        shares=shares,
        fps=[(b - a) / elapsed for a, b in zip(f0, f1, strict=True)],
        bytes_s=(b1 - b0) / elapsed,
        packets_s=(p1 - p0) / elapsed,
        receiver_cores=(rcpu1 - rcpu0) / 1e9 / elapsed,
        system_share=system / (user + system) if user + system else 0.0,
    )


def summarise(kind: str, streams: int, window: Window, **extra: int) -> Result:
    cores = median(window.shares)
    per_stream = cores / streams
    return Result(
        kind=kind,
        streams=streams,
        cpu_cores=round(cores, 4),
        cpu_cores_slices=[round(s, 4) for s in window.shares],
        ms_cpu_per_stream_s=round(per_stream * 1000, 3),
        streams_per_core=round(1 / per_stream, 1) if per_stream > 0 else float("inf"),
        system_share=round(window.system_share, 2),
        fps_min=round(min(window.fps), 2),
        fps_median=round(median(window.fps), 2),
        received_mbps_per_stream=round(window.bytes_s * 8 / 1e6 / streams, 3),
        received_packets_s=round(window.packets_s),
        receiver_cpu_cores=round(window.receiver_cores, 3),
        **extra,
    )


def run_ours(
    aus: AccessUnits,
    streams: int,
    port: int,
    receiver: Receiver,
    warmup: float,
    seconds: float,
    slices: int,
    *,
    sessions: bool = False,
    audio: bool = False,
) -> Result:
    ctx = mp.get_context("spawn")  # a clean interpreter: no parent threads or imports (cv2, av) in it
    counters = ctx.RawArray("q", streams + 4)
    stop = ctx.Event()
    target = session_audio_main if audio else session_main if sessions else forwarder_main
    proc = ctx.Process(target=target, args=(aus, streams, port, counters, stop), daemon=True)
    proc.start()
    assert proc.pid is not None
    try:
        time.sleep(warmup)
        counters[streams + 3] = 0
        extra0 = list(counters[streams:])
        window = measure(
            [proc.pid], lambda: [float(c) for c in counters[:streams]], receiver.totals, receiver.pid, seconds, slices
        )
        extra1 = list(counters[streams:])
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    if not proc.exitcode == 0:
        raise RuntimeError(f"forwarder exited with {proc.exitcode}")
    return summarise(
        "ours-session-audio" if audio else "ours-session" if sessions else "ours",
        streams,
        window,
        refused_packets=extra1[1] - extra0[1],
        late_frames=extra1[2] - extra0[2],
        worst_lateness_ms=extra1[3] // 1000,
    )


def run_ffmpeg(
    clip: Path, kind: str, streams: int, port: int, receiver: Receiver, warmup: float, seconds: float, slices: int
) -> Result:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"]
    # -progress reports frame= every stats_period, which gives the paced fps like our counters.
    cmd += ["-progress", "pipe:1", "-stats_period", "0.2", "-re"]
    # Raw H.264 has no timestamps: the demuxer makes them at -framerate; it is pre-concatenated
    # rather than looped (see repeat_raw).
    cmd += ["-framerate", str(FPS)] if clip.suffix == ".h264" else ["-stream_loop", "-1"]
    cmd += ["-i", str(clip), "-c", "copy", "-f", "rtp_mpegts", f"udp://127.0.0.1:{port}"]
    # stderr to a file: a pipe nobody reads could fill and block ffmpeg.
    with tempfile.TemporaryFile("w+") as errors:
        window = ffmpeg_window(cmd, streams, errors, receiver, warmup, seconds, slices)
    return summarise(kind, streams, window)


def ffmpeg_window(
    cmd: list[str], streams: int, errors: IO[str], receiver: Receiver, warmup: float, seconds: float, slices: int
) -> Window:
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True) for _ in range(streams)]
    frames = [0.0] * streams

    def follow(i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("frame="):
                frames[i] = float(line[6:])

    readers = [threading.Thread(target=follow, args=(i, p), daemon=True) for i, p in enumerate(procs)]
    for t in readers:
        t.start()
    try:
        time.sleep(warmup)
        if any(p.poll() is not None for p in procs):
            errors.seek(0)
            raise RuntimeError(f"ffmpeg exited: {errors.read()[-2000:]}")
        return measure([p.pid for p in procs], lambda: list(frames), receiver.totals, receiver.pid, seconds, slices)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


class Receiver:
    """The draining receiver process, shared by every run (counters are read as differences)."""

    def __init__(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        ctx = mp.get_context("spawn")
        self._counts = ctx.RawArray("q", 2)
        self._stop = ctx.Event()
        self._proc = ctx.Process(target=receiver_main, args=(self.port, self._counts, self._stop), daemon=True)

    def __enter__(self) -> Receiver:
        self._proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(5)

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def totals(self) -> tuple[float, float]:
        return float(self._counts[0]), float(self._counts[1])


# --- report ------------------------------------------------------------------------------------------


def table(results: list[Result], clip_mbps: float) -> str:
    lines = [
        f"| sender | streams | CPU, cores | CPU per stream, ms/s | streams per core | paced fps, min / median "
        f"| system share of CPU | received Mbit/s per stream (clip {clip_mbps:.2f}) | receiver CPU, cores "
        "| frames > 40 ms late, worst lateness |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        # ffmpeg does not say how late it sent; -re only keeps its average rate.
        late = f"{r.late_frames} / {r.worst_lateness_ms} ms" if r.kind == "ours" else "n/a"
        lines.append(
            f"| {r.kind} | {r.streams} | {r.cpu_cores:.3f} | {r.ms_cpu_per_stream_s:.2f} | {r.streams_per_core:.0f} "
            f"| {r.fps_min:.2f} / {r.fps_median:.2f} | {r.system_share:.0%} | {r.received_mbps_per_stream:.2f} "
            f"| {r.receiver_cpu_cores:.2f} | {late} |"
        )
    return "\n".join(lines)


def parse_ffmpeg(spec: str) -> tuple[int, str]:
    count, _, source = spec.partition(":")
    if source not in ("mkv", "h264"):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected N:mkv or N:h264")
    return int(count), source


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--streams", type=int, nargs="*", default=[10, 25, 50], help="our forwarder's stream counts")
    ap.add_argument(
        "--ffmpeg",
        type=parse_ffmpeg,
        nargs="*",
        default=[(1, "mkv"), (10, "mkv"), (10, "h264")],
        help="ffmpeg runs as N:input, input mkv (framed packets) or h264 (raw Annex-B)",
    )
    ap.add_argument(
        "--sessions",
        type=int,
        nargs="*",
        default=[],
        help="stream counts for the product's path: camera bus + subscription + MediaSender per stream",
    )
    ap.add_argument(
        "--sessions-audio",
        type=int,
        nargs="*",
        default=[],
        help="as --sessions, each camera with G.711 A-law sound (50 frames/s) carried inside the PS",
    )
    ap.add_argument("--seconds", type=float, default=20, help="measured window per run")
    ap.add_argument("--slices", type=int, default=4, help="the window is cut into this many; the median is quoted")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clip = make_clip(REPO / "samples" / "clips")
    mkv = remux_mkv(clip)
    aus = access_units(clip)
    clip_mbps = sum(len(a) for a, _ in aus) * 8 / (len(aus) / FPS) / 1e6
    keys = sum(1 for _, k in aus if k)
    print(f"clip {clip.name}: {len(aus)} frames, {keys} keyframes, {clip_mbps:.2f} Mbit/s", flush=True)

    results: list[Result] = []
    with Receiver() as receiver:
        time.sleep(0.5)
        for n in args.streams:
            results.append(run_ours(aus, n, receiver.port, receiver, args.warmup, args.seconds, args.slices))
            print(json.dumps(asdict(results[-1])), flush=True)
        for n in args.sessions:
            results.append(
                run_ours(aus, n, receiver.port, receiver, args.warmup, args.seconds, args.slices, sessions=True)
            )
            print(json.dumps(asdict(results[-1])), flush=True)
        for n in args.sessions_audio:
            results.append(
                run_ours(aus, n, receiver.port, receiver, args.warmup, args.seconds, args.slices, audio=True)
            )
            print(json.dumps(asdict(results[-1])), flush=True)
        for n, source in args.ffmpeg:
            path = mkv if source == "mkv" else repeat_raw(clip, args.warmup + args.seconds + 10)
            results.append(
                run_ffmpeg(path, f"ffmpeg-{source}", n, receiver.port, receiver, args.warmup, args.seconds, args.slices)
            )
            print(json.dumps(asdict(results[-1])), flush=True)

    ours = [r for r in results if r.kind.startswith("ours")]
    ratios: dict[str, float] = {}
    for base in (r for r in results if not r.kind.startswith("ours")):
        for r in ours:
            ratios[f"{r.kind}{r.streams}/{base.kind}{base.streams}"] = round(
                r.ms_cpu_per_stream_s / base.ms_cpu_per_stream_s, 3
            )
    print()
    print(table(results, clip_mbps))
    print()
    print("ours/ffmpeg CPU per stream:", ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    # A sender that fell behind real time uses less CPU for less video: its figure is not comparable.
    for r in results:
        if r.fps_min < FPS * 0.96:
            print(f"WARNING: {r.kind} x{r.streams} did not hold {FPS} fps (slowest stream {r.fps_min})")
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "clip": {
            "path": str(clip.relative_to(REPO)),
            "frames": len(aus),
            "keyframes": keys,
            "mbps": round(clip_mbps, 3),
        },
        "seconds": args.seconds,
        "slices": args.slices,
        "results": [asdict(r) for r in results],
        "ratio_ours_over_ffmpeg_per_stream": ratios,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
