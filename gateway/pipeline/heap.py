"""The C heap of processes that read many cameras: keep what FFmpeg frees from staying resident.

Measured (docs/benchmarks.md, "A light stream reader"): 40 RTSP sessions read with PyAV in one
process cost 4.1 MB each with glibc's defaults and 0.9 MB each with the threshold fixed at 128 KiB. The
difference is not held data but freed memory the process keeps: glibc serves a large allocation
(over 128 KiB) with its own mmap and returns it to the kernel when freed, but then raises that
threshold to the size just freed (up to 32 MiB). After the first few megabyte-sized buffers (opening
a session probes the stream; a quality sample decodes a 1080p keyframe), every later large buffer
comes from the heaps, and the heaps of many reader threads fragment and never shrink. Fixing the
threshold stops the raising; fewer arenas keep hundreds of reader threads from growing a heap each.
The threshold is fixed above a 1080p picture's buffers (READERS_HEAP): since a process takes its
quality samples one at a time (gateway.quality.sampler), keeping one sample's buffers in the heap
costs about 12 MB a process and saves a quarter of the readers' CPU (page faults of fresh maps).

glibc only (``mallopt`` is its public tuning call); elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Arenas for the whole process. glibc's default is eight per core; most allocations of a Python
# process go through its own allocator under the GIL, so the threads rarely contend for these.
ARENA_MAX = 2


@dataclass(frozen=True)
class HeapSettings:
    mmap_threshold: int  # larger allocations are mapped for themselves and unmapped when freed
    trim_threshold: int | None  # free memory at a heap's top kept for reuse; None: glibc's (128 KiB)


# glibc's own starting threshold, kept fixed. Measured alongside 64 and 256 KiB: 64 saves little
# more, 256 gives back a third of the gain. But every frame-sized buffer of a quality sample is then
# mapped, faulted in page by page and unmapped: 18.5 ms of system CPU a sample.
SMALL_MAPS = HeapSettings(128 * 1024, None)
# The readers': a 1080p picture's buffers (3-6 MB) come from the heaps and stay there for the next
# sample: 4.5 ms of system CPU a sample. Safe for memory because a process decodes one sample at a
# time (gateway.quality.sampler), so the heaps keep one sample's buffers, not one per reading thread.
READERS_HEAP = HeapSettings(8 * 1024 * 1024, 64 * 1024 * 1024)


# How often freed memory at the top and in the middle of the heaps is handed back (malloc_trim). The
# quality checks' decoding and picture work leave freed small blocks behind each sample; trimming
# every few seconds halved what 50 cameras held (1.2 to 0.6 MB each), for a call that takes about a
# millisecond.
TRIM_INTERVAL_S = 10.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def keep_heap_small(arenas: bool = True, settings: HeapSettings = READERS_HEAP) -> bool:
    """Apply the settings to this process; True when they took. Call early: the arena limit applies to
    threads not yet started (``arenas=False`` leaves it alone, for a process that already has them)."""
    libc = _libc()
    try:
        mallopt = libc.mallopt  # type: ignore[union-attr]
    except AttributeError:
        log.debug("no glibc mallopt here; the C heap keeps its defaults")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, settings.mmap_threshold))
    if settings.trim_threshold is not None:
        ok = bool(mallopt(M_TRIM_THRESHOLD, settings.trim_threshold)) and ok
    if arenas:
        ok = bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and ok
    return ok


def start_trimming(interval_s: float = TRIM_INTERVAL_S) -> threading.Thread | None:
    """A daemon thread that trims the heaps every `interval_s` (None where glibc's call is missing)."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    stop = threading.Event()

    def run() -> None:
        # Nothing here can raise: a C call on a number. The thread ends with its process.
        while not stop.wait(interval_s):
            trim(0)

    thread = threading.Thread(target=run, name="heap-trim", daemon=True)
    thread.start()
    return thread
