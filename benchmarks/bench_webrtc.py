"""WebRTC live view, sender side: CPU per 1080p viewer (passthrough vs decode + re-encode), fan-out, latency.

    .venv/bin/python -m benchmarks.bench_webrtc              # 3 repeats, 15 s windows, ~9 min
    .venv/bin/python -m benchmarks.bench_webrtc --quick      # 1 repeat, 6 s windows, < 90 s
    .venv/bin/python -m benchmarks.bench_webrtc --busy       # also with the event loop kept busy

The fan-out (ten viewers of one camera) runs on the event loop, as the gateway did before its sender
threads (the baseline, always measured), and on sender threads (`SenderPool`, `--threads`: at most
that many for the camera; the gateway's is SENDER_THREADS_PER_CAMERA, two; 10 is a thread per viewer).
With `--busy` each also runs with the event loop doing BUSY_S of Python every BUSY_EVERY_S; with
`--stall`, with the event loop blocked as long in a call that releases the GIL.

Everything on 127.0.0.1, no RTSP server: the 1080p H.264 simulator clip (`hd_h264`) is demuxed
(never decoded) into memory and a thread publishes its access units at 25 fps into a camera
`PacketBus`, as a camera reader does. Each viewer is what `LiveViewService` builds: a bus
subscription, a track (`H264PassthroughTrack`, or the baseline `DecodedVideoTrack`, which decodes
with PyAV so that aiortc's own encoder re-encodes, scaled to 1280 wide as the gateway does) and an
aiortc peer connection answering a real aiortc viewer's offer (ICE, DTLS, SRTP).

The sender (gateway side) and the viewers run in two processes, so the sender's CPU (on-CPU time of
all its threads, /proc schedstat) excludes the viewers. The viewers do not decode: their RTP
receivers are replaced by a counter of packets and of frames (marker bits), which is what tells
that every viewer got the video and at what rate. Latency: from the moment a packet is published
on the bus (`Packet.arrival`, time.monotonic) to the moment the first RTP packet of that picture
has been through SRTP and `sendto` (a wrapper around the connection's `RTCDtlsTransport._send_rtp`,
read against the track's `last_arrival`); passthrough only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from multiprocessing.connection import Connection
from typing import Any, Final

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket, is_rtcp

from adapters.common.media import Packet
from adapters.webrtc import restrict_host_addresses
from adapters.webrtc.peer import answer_offer
from adapters.webrtc.track import H264PassthroughTrack
from adapters.webrtc.transcode import MAX_WIDTH, DecodedVideoTrack
from benchmarks.bench_gb_forward import cpu_ns
from benchmarks.common import REPO, median
from gateway.config.liveview import SENDER_THREADS_PER_CAMERA
from gateway.liveview.senders import SenderPool, SenderThread
from gateway.pipeline.bus import PacketBus, Subscription
from sim.clips import make_clips

FPS: Final = 25
LOCAL: Final = "127.0.0.1"
CLIP: Final = "hd_h264"
# The gateway's queue per viewer (gateway/liveview/webrtc.py VIEWER_QUEUE).
VIEWER_QUEUE: Final = 100
CONNECT_TIMEOUT_S: Final = 30.0
# The "busy loop" variant: the event loop runs 20 ms of Python every 100 ms besides the viewers, as an
# API request building a large answer or a history flush would.
BUSY_S: Final = 0.02
BUSY_EVERY_S: Final = 0.1

AccessUnits = list[tuple[bytes, bool]]


@dataclass(frozen=True)
class Scenario:
    mode: str  # "passthrough" or "transcode"
    viewers: int
    codec: str  # what goes on the wire: "h264" or, for transcode, "vp8"
    max_width: int = MAX_WIDTH  # transcode: wider pictures are scaled down to this before encoding
    # Where the viewers' connections run: 0 on the event loop (the old path), else on sender threads,
    # at most this many for the camera (`SenderPool`, as LiveViewService does).
    threads: int = 0
    busy: bool = False  # the event loop also does other work (BUSY_S of CPU every BUSY_EVERY_S)
    stall: bool = False  # the event loop blocks BUSY_S every BUSY_EVERY_S without the GIL (a blocking call)

    @property
    def label(self) -> str:
        where = ", in loop" if self.threads == 0 else f", {self.threads} sender thread{'s' * (self.threads > 1)}"
        busy = (", busy loop" if self.busy else "") + (", stalled loop" if self.stall else "")
        if self.mode != "transcode":
            return self.mode + where + busy
        return f"transcode {self.codec}" + ("" if self.max_width == MAX_WIDTH else f" @{self.max_width}") + where + busy


# --- the clip ----------------------------------------------------------------------------------------


def load_clip() -> tuple[AccessUnits, bytes | None, float]:
    """(access unit, keyframe) of the clip in decode order, its extradata, and its bit rate in Mbit/s."""
    info = make_clips(REPO / "samples" / "clips", names={CLIP})[CLIP]
    with av.open(str(info.path), format="h264") as src:
        stream = src.streams.video[0]
        aus = [(bytes(p), bool(p.is_keyframe)) for p in src.demux(stream) if p.size]
        extradata = stream.codec_context.extradata
    mbps = sum(len(a) for a, _ in aus) * 8 / (len(aus) / FPS) / 1e6
    return aus, extradata, mbps


# --- the viewers' process ----------------------------------------------------------------------------


def viewers_main(conn: Connection, viewers: int, counts: Any, stop: Any) -> None:
    """Offer `viewers` recvonly connections through `conn`, apply the answers, and count what
    arrives: counts[2i] = RTP packets, counts[2i + 1] = frames (marker bits) of viewer i."""
    index: dict[int, int] = {}

    # Decoding ten 1080p streams would take the two cores from the sender under test: the viewers
    # only count what SRTP let through.
    async def counted(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
        i = index.get(id(self))
        if i is not None:
            counts[2 * i] += 1
            counts[2 * i + 1] += packet.marker

    RTCRtpReceiver._handle_rtp_packet = counted  # type: ignore[method-assign]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        pcs = []
        offers = []
        for i in range(viewers):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            transceiver = pc.addTransceiver("video", direction="recvonly")
            index[id(transceiver.receiver)] = i
            restrict_host_addresses(pc, [LOCAL])
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
            offers.append(pc.localDescription.sdp)
        conn.send(offers)
        answers: list[str] = await loop.run_in_executor(None, conn.recv)
        for pc, sdp in zip(pcs, answers, strict=True):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await loop.run_in_executor(None, stop.wait)
        for pc in pcs:
            await pc.close()

    asyncio.run(run())


# --- the gateway's process ---------------------------------------------------------------------------


def publish(bus: PacketBus, aus: AccessUnits, stop: threading.Event) -> None:
    """The camera reader: one access unit every 40 ms on an absolute schedule, looping the clip."""
    period = 1 / FPS
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        delay = start + n * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        au, key = aus[n % len(aus)]
        bus.publish(Packet(bus.camera_id, "h264", n, n, Fraction(1, FPS), key, au, time.monotonic()))
        n += 1


def source_of(sub: Subscription) -> Callable[[], Awaitable[Packet | None]]:
    async def next_packet() -> Packet | None:
        try:
            return await sub.get()
        except EOFError:
            return None

    return next_packet


def instrument(
    pc: RTCPeerConnection,
    track: H264PassthroughTrack,
    latencies: list[tuple[float, float]],
    complete: list[tuple[float, float]],
) -> None:
    """Record (time, seconds since the picture was published) when a picture's first RTP packet is
    sent (`latencies`) and when its last is (`complete`: the marker bit, RFC 6184 5.1; only then can
    the viewer decode it).

    aiortc's sender packs and sends every RTP packet of a picture before it asks the track for the
    next one, so while a new RTP timestamp goes out, `track.last_arrival` is that picture's."""
    dtls: Any = pc.getTransceivers()[0].sender.transport
    original = dtls._send_rtp
    last: list[bytes] = [b""]

    async def send_rtp(data: bytes) -> None:
        await original(data)
        if is_rtcp(data) or track.last_arrival is None:
            return
        now = time.monotonic()
        if data[1] & 0x80:  # the marker (SRTP leaves the header in the clear)
            complete.append((now, now - track.last_arrival))
        if data[4:8] == last[0]:
            return
        last[0] = data[4:8]
        latencies.append((now, now - track.last_arrival))

    dtls._send_rtp = send_rtp


def gateway_main(
    conn: Connection,
    control: Connection,
    aus: AccessUnits,
    extradata: bytes | None,
    scenario: Scenario,
    ready: Any,
    stop: Any,
) -> None:
    """Answer the viewers' offers as LiveViewService does, feed the bus, and at the end send
    `control` the latency samples and the frames each track handed to aiortc."""
    asyncio.run(_gateway(conn, control, aus, extradata, scenario, ready, stop))


async def _gateway(
    conn: Connection,
    control: Connection,
    aus: AccessUnits,
    extradata: bytes | None,
    scenario: Scenario,
    ready: Any,
    stop: Any,
) -> None:
    loop = asyncio.get_running_loop()
    bus = PacketBus("cam")
    offers: list[str] = await loop.run_in_executor(None, conn.recv)
    pool = SenderPool(lambda thread, error: None, threads_per_camera=max(scenario.threads, 1))
    viewers: list[tuple[SenderThread | None, Subscription, MediaStreamTrack, RTCPeerConnection]] = []
    latencies: list[tuple[float, float]] = []
    complete: list[tuple[float, float]] = []
    answers = []
    for i, offer in enumerate(offers):
        # As LiveViewService: the subscription, track and connection are made on the loop that drives them.
        thread = pool.take("cam") if scenario.threads else None
        made = viewer(bus, i, offer, scenario, extradata, latencies, complete)
        sub, track, pc, answer = await (thread.run(made) if thread is not None else made)
        answers.append(answer)
        viewers.append((thread, sub, track, pc))
    conn.send(answers)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not all(pc.connectionState == "connected" for _t, _s, _tr, pc in viewers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"viewers not connected: {[pc.connectionState for _t, _s, _tr, pc in viewers]}")
        await asyncio.sleep(0.05)
    busy = asyncio.ensure_future(keep_busy(scenario.stall)) if scenario.busy or scenario.stall else None
    # Publishing starts once every viewer is connected: before that the queues would only fill,
    # drop and make each track wait for a later keyframe.
    halt = threading.Event()
    feeder = threading.Thread(target=publish, args=(bus, aus, halt), daemon=True)
    feeder.start()
    ready.set()
    await loop.run_in_executor(None, stop.wait)
    halt.set()
    feeder.join(2)
    if busy is not None:
        busy.cancel()
    for _thread, sub, _track, _pc in viewers:
        sub.close()
    sent = [int(getattr(track, "frames_sent", 0)) for _t, _s, track, _pc in viewers]
    control.send(
        {"latencies": list(latencies), "complete": list(complete), "frames_sent": sent, "dropped": bus.dropped()}
    )
    for thread, _sub, _track, pc in viewers:
        await (thread.run(pc.close()) if thread is not None else pc.close())
    await pool.stop()


async def viewer(
    bus: PacketBus,
    i: int,
    offer: str,
    scenario: Scenario,
    extradata: bytes | None,
    latencies: list[tuple[float, float]],
    complete: list[tuple[float, float]],
) -> tuple[Subscription, MediaStreamTrack, RTCPeerConnection, str]:
    """One viewer as LiveViewService builds it, on the running loop: (subscription, track, connection, answer)."""
    sub = bus.subscribe(f"webrtc:{i}", VIEWER_QUEUE)
    track: MediaStreamTrack
    if scenario.mode == "passthrough":
        track = H264PassthroughTrack(source_of(sub), extradata)
    else:
        track = DecodedVideoTrack(source_of(sub), "h264", extradata, max_width=scenario.max_width)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answer = await answer_offer(pc, offer, track, codec=scenario.codec, host_addresses=[LOCAL])
    if isinstance(track, H264PassthroughTrack):
        instrument(pc, track, latencies, complete)
    return sub, track, pc, answer


async def keep_busy(stall: bool) -> None:
    """The event loop's other work, BUSY_S every BUSY_EVERY_S: Python holding the GIL, as real work does,
    or (`stall`) a blocking call that releases it, as a synchronous file or database call would."""
    while True:
        if stall:
            time.sleep(BUSY_S)  # noqa: ASYNC251 - blocking the loop is what is measured
        else:
            until = time.perf_counter() + BUSY_S
            while time.perf_counter() < until:
                pass
        await asyncio.sleep(BUSY_EVERY_S - BUSY_S)


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Run:
    scenario: Scenario
    sender_cores: float  # median over the window's slices
    receiver_cores: float
    fps: list[float]  # frames received per second, per viewer
    packets_s: list[float]  # RTP packets received per second, per viewer
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_samples: int
    complete_ms_p50: float | None  # to the picture's last RTP packet
    complete_ms_p99: float | None

    @property
    def cpu_per_viewer(self) -> float:
        """Sender CPU seconds per second of video per viewer."""
        return self.sender_cores / self.scenario.viewers


def run_once(
    scenario: Scenario, aus: AccessUnits, extradata: bytes | None, warmup: float, seconds: float, slices: int
) -> Run:
    ctx = mp.get_context("spawn")  # clean interpreters: the parent's threads and imports stay out
    gw_end, viewer_end = ctx.Pipe()
    control_parent, control_child = ctx.Pipe()
    counts = ctx.RawArray("q", 2 * scenario.viewers)
    ready, stop = ctx.Event(), ctx.Event()
    viewers = ctx.Process(target=viewers_main, args=(viewer_end, scenario.viewers, counts, stop), daemon=True)
    gateway = ctx.Process(
        target=gateway_main, args=(gw_end, control_child, aus, extradata, scenario, ready, stop), daemon=True
    )
    viewers.start()
    gateway.start()
    assert viewers.pid is not None and gateway.pid is not None
    try:
        if not ready.wait(CONNECT_TIMEOUT_S + 30):
            raise RuntimeError(f"{scenario}: the viewers did not connect")
        time.sleep(warmup)
        c0, r0 = list(counts), cpu_ns([viewers.pid])
        t0 = last_t = time.monotonic()
        last_cpu = cpu_ns([gateway.pid])
        shares = []
        for k in range(1, slices + 1):
            time.sleep(max(0.0, t0 + seconds * k / slices - time.monotonic()))
            now_cpu, now_t = cpu_ns([gateway.pid]), time.monotonic()
            shares.append((now_cpu - last_cpu) / 1e9 / (now_t - last_t))
            last_cpu, last_t = now_cpu, now_t
        c1, r1, t1 = list(counts), cpu_ns([viewers.pid]), time.monotonic()
        stop.set()
        if not control_parent.poll(20):
            raise RuntimeError(f"{scenario}: the gateway process sent no results")
        report = control_parent.recv()
    finally:
        stop.set()
        for proc in (gateway, viewers):
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    elapsed = t1 - t0
    window = [lat for at, lat in report["latencies"] if t0 <= at <= t1]
    p50, p99 = percentiles_ms(window)
    c50, c99 = percentiles_ms([lat for at, lat in report["complete"] if t0 <= at <= t1])
    return Run(
        scenario=scenario,
        sender_cores=median(shares),
        receiver_cores=(r1 - r0) / 1e9 / elapsed,
        fps=[(c1[2 * i + 1] - c0[2 * i + 1]) / elapsed for i in range(scenario.viewers)],
        packets_s=[(c1[2 * i] - c0[2 * i]) / elapsed for i in range(scenario.viewers)],
        latency_ms_p50=p50,
        latency_ms_p99=p99,
        latency_samples=len(window),
        complete_ms_p50=c50,
        complete_ms_p99=c99,
    )


def percentiles_ms(seconds: list[float]) -> tuple[float | None, float | None]:
    if not seconds:
        return None, None
    p50, p99 = (float(x) * 1000 for x in np.percentile(seconds, [50, 99]))
    return p50, p99


@dataclass
class Summary:
    """Medians over the repeats of one scenario."""

    label: str
    viewers: int
    repeats: int
    sender_cores: float
    cpu_per_viewer: float
    fps_min: float
    fps_median: float
    packets_s_per_viewer: float
    viewers_receiving: int  # in the worst repeat
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    complete_ms_p50: float | None
    complete_ms_p99: float | None
    receiver_cores: float
    runs: list[dict[str, Any]] = field(default_factory=list)


def summarise(runs: Sequence[Run]) -> Summary:
    s = runs[0].scenario

    def med(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return median(present) if present else None

    return Summary(
        label=s.label,
        viewers=s.viewers,
        repeats=len(runs),
        sender_cores=median([r.sender_cores for r in runs]),
        cpu_per_viewer=median([r.cpu_per_viewer for r in runs]),
        fps_min=median([min(r.fps) for r in runs]),
        fps_median=median([median(r.fps) for r in runs]),
        packets_s_per_viewer=median([median(r.packets_s) for r in runs]),
        viewers_receiving=min(sum(1 for f in r.fps if f > 0) for r in runs),
        latency_ms_p50=med([r.latency_ms_p50 for r in runs]),
        latency_ms_p99=med([r.latency_ms_p99 for r in runs]),
        complete_ms_p50=med([r.complete_ms_p50 for r in runs]),
        complete_ms_p99=med([r.complete_ms_p99 for r in runs]),
        receiver_cores=median([r.receiver_cores for r in runs]),
        runs=[
            {
                "sender_cores": round(r.sender_cores, 4),
                "fps": [round(f, 2) for f in r.fps],
                "latency_ms_p50": r.latency_ms_p50 and round(r.latency_ms_p50, 2),
                "latency_ms_p99": r.latency_ms_p99 and round(r.latency_ms_p99, 2),
                "latency_samples": r.latency_samples,
                "complete_ms_p99": r.complete_ms_p99 and round(r.complete_ms_p99, 2),
            }
            for r in runs
        ],
    )


def table(summaries: list[Summary]) -> str:
    def ms(v: float | None) -> str:
        return f"{v:.1f}" if v is not None else "n/a"

    lines = [
        "| path | viewers | sender CPU, cores | CPU s per video s per viewer | received fps, min / median "
        "| RTP packets/s per viewer | viewers receiving | latency p50 / p99, ms "
        "| whole picture sent p50 / p99, ms | viewers' CPU, cores |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.label} | {s.viewers} | {s.sender_cores:.3f} | {s.cpu_per_viewer:.4f} "
            f"| {s.fps_min:.1f} / {s.fps_median:.1f} | {s.packets_s_per_viewer:.0f} "
            f"| {s.viewers_receiving}/{s.viewers} "
            f"| {ms(s.latency_ms_p50)} / {ms(s.latency_ms_p99)} "
            f"| {ms(s.complete_ms_p50)} / {ms(s.complete_ms_p99)} | {s.receiver_cores:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, short windows, VP8 baseline only (< 90 s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15, help="measured window per run")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--slices", type=int, default=5, help="the window is cut into this many; the median is quoted")
    ap.add_argument("--fanout", type=int, default=10, help="viewers of one camera for the fan-out runs")
    ap.add_argument(
        "--threads",
        type=int,
        nargs="*",
        default=sorted({1, SENDER_THREADS_PER_CAMERA, 10}),
        help="fan-out on sender threads, at most this many for the camera (each a run; the in-loop "
        f"baseline always runs; the gateway's is {SENDER_THREADS_PER_CAMERA}; 10: a thread per viewer)",
    )
    ap.add_argument("--busy", action="store_true", help="also each fan-out (in loop, threaded) with a busy event loop")
    ap.add_argument("--stall", action="store_true", help="also each fan-out with the event loop blocked, GIL released")
    ap.add_argument(
        "--transcode",
        nargs="*",
        default=None,
        help=f"baselines: CODEC[@MAX_WIDTH] aiortc re-encodes to (default width {MAX_WIDTH}, as the gateway); "
        "default vp8 h264 h264@1920 (--quick: vp8)",
    )
    ap.add_argument("--json", type=argparse.FileType("w"))
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.seconds, args.warmup, args.slices = 1, 6, 2, 3
    if args.transcode is None:
        args.transcode = ["vp8"] if args.quick else ["vp8", "h264", "h264@1920"]

    aus, extradata, mbps = load_clip()
    keys = sum(1 for _, k in aus if k)
    print(f"clip {CLIP}: {len(aus)} frames, {keys} keyframes, {mbps:.2f} Mbit/s; {os.cpu_count()} CPUs", flush=True)

    scenarios = [Scenario("passthrough", 1, "h264")]
    for spec in args.transcode:
        codec, _, width = spec.partition("@")
        scenarios.append(Scenario("transcode", 1, codec, int(width) if width else MAX_WIDTH))
    fanout = [Scenario("passthrough", args.fanout, "h264")]
    fanout += [Scenario("passthrough", args.fanout, "h264", threads=t) for t in args.threads if t > 0]
    plain = list(fanout)
    if args.busy:
        fanout += [replace(s, busy=True) for s in plain]
    if args.stall:
        fanout += [replace(s, stall=True) for s in plain]
    scenarios += fanout
    runs: dict[Scenario, list[Run]] = {s: [] for s in scenarios}
    # Repeats interleave the scenarios, so a slow spell of a shared box hits them all alike.
    for rep in range(args.repeats):
        for s in scenarios:
            run = run_once(s, aus, extradata, args.warmup, args.seconds, args.slices)
            runs[s].append(run)
            lat = (
                f"{run.latency_ms_p50:.1f}/{run.latency_ms_p99:.1f} ms, whole picture p99 {run.complete_ms_p99:.1f} ms"
                if run.latency_ms_p50 is not None and run.complete_ms_p99 is not None
                else "-"
            )
            print(
                f"  [{rep + 1}/{args.repeats}] {s.label} x{s.viewers}: sender {run.sender_cores:.3f} cores, "
                f"fps min {min(run.fps):.1f}, latency {lat}",
                flush=True,
            )

    summaries = [summarise(runs[s]) for s in scenarios]
    one = summaries[0]
    print()
    print(table(summaries))
    print()
    ratios = {}
    for base in summaries[1 : 1 + len(args.transcode)]:
        ratios[f"{base.label}/passthrough"] = base.cpu_per_viewer / one.cpu_per_viewer
        note = "" if base.fps_min >= FPS * 0.96 else f" (it kept only {base.fps_min:.1f} of {FPS} fps)"
        print(f"{base.label} / passthrough CPU per viewer: {ratios[f'{base.label}/passthrough']:.1f}x{note}")
    fans = summaries[1 + len(args.transcode) :]
    fan = fans[0]  # in loop: the baseline of the threaded runs
    print(f"passthrough x{fan.viewers} CPU per viewer / x1: {fan.cpu_per_viewer / one.cpu_per_viewer:.2f}")
    if fan.viewers > 1:
        # What one more viewer costs, the fixed part (publishing thread, event loop) taken out.
        extra = (fan.sender_cores - one.sender_cores) / (fan.viewers - 1)
        print(f"passthrough, each viewer beyond the first: {extra:.4f} cores")
    for other in fans[1:]:
        load = ", busy loop" if "busy" in other.label else ", stalled loop" if "stalled" in other.label else ""
        base = next(f for f in fans if f.label == "passthrough, in loop" + load)
        if other is base or other.latency_ms_p99 is None or base.latency_ms_p99 is None:
            continue
        key = f"{other.label} / {base.label}"
        ratios[f"{key} p99"] = other.latency_ms_p99 / base.latency_ms_p99
        ratios[f"{key} CPU"] = other.sender_cores / base.sender_cores
        whole = ""
        if other.complete_ms_p99 is not None and base.complete_ms_p99 is not None:
            ratios[f"{key} whole picture p99"] = other.complete_ms_p99 / base.complete_ms_p99
            whole = (
                f", whole picture p99 {other.complete_ms_p99:.1f} vs {base.complete_ms_p99:.1f} ms "
                f"({ratios[f'{key} whole picture p99']:.2f}x)"
            )
        print(
            f"x{other.viewers} {key}: latency p99 {other.latency_ms_p99:.1f} vs {base.latency_ms_p99:.1f} ms "
            f"({ratios[f'{key} p99']:.2f}x){whole}, sender CPU {ratios[f'{key} CPU']:.2f}x"
        )
    for sm in summaries:
        if sm.fps_min < FPS * 0.96:
            print(f"WARNING: {sm.label} x{sm.viewers}: the slowest viewer got {sm.fps_min:.1f} fps, not {FPS}")
    if args.json:
        report = {
            "date": time.strftime("%Y-%m-%d"),
            "cpus": os.cpu_count(),
            "clip": {"name": CLIP, "frames": len(aus), "keyframes": keys, "mbps": round(mbps, 3)},
            "seconds": args.seconds,
            "repeats": args.repeats,
            "summaries": [asdict(s) for s in summaries],
            "ratios": ratios,
        }
        with contextlib.closing(args.json):
            args.json.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
