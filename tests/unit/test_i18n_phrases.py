"""Picture-check details and event messages, made by the real checks and rules, read wholly in Chinese.

The checks run on real footage nobody here made (vtest.avi and tree.avi, Debian opencv-doc) and on
frames that drive each of their branches (black, no signal, dark, overexposed, blurred,
covered, tinted, noisy, striped, frozen, shaken, moved, tampered...); every detail they write must
translate with no English word left, so a new wording in gateway/quality fails here until
gateway/i18n/phrases.py knows it.
"""

from __future__ import annotations

import itertools
import re

import cv2
import numpy as np
import pytest

from gateway import i18n
from gateway.i18n.phrases import TEMPLATES, phrase_text
from gateway.quality.checks import diagnose
from gateway.quality.evidence import with_camera_tamper
from gateway.quality.frames import CheckResult, prepare
from gateway.quality.picture import check_stripes
from gateway.quality.scene import Reference, SceneTracker, check_scene
from gateway.quality.temporal import Bitstream, FrozenTracker, check_shake
from sim.footage import TREE, VTEST, read_frames
from tests.support.scenes import scene

LATIN = re.compile(r"[A-Za-z]{2,}")
# Proper names: the protocol a camera reports tampering over.
ALLOWED = {"ONVIF"}


def _english_left(text: str) -> list[str]:
    return [w for w in LATIN.findall(text) if w not in ALLOWED]


def _details() -> set[str]:
    w, h = 960, 540
    base = scene(w, h)
    frames: list[np.ndarray] = [
        base,
        np.zeros((h, w, 3), np.uint8),
        np.full((h, w, 3), (200, 60, 20), np.uint8),
        (base * 0.08).astype(np.uint8),
        np.clip(base.astype(np.int32) + 150, 0, 255).astype(np.uint8),
        cv2.GaussianBlur(base, (0, 0), 9),
        np.clip(base + np.random.default_rng(1).normal(0, 40, base.shape), 0, 255).astype(np.uint8),
    ]
    covered = base.copy()
    cv2.ellipse(covered, (w // 2, h // 2), (int(w * 0.55), int(h * 0.55)), 0, 0, 360, (18, 20, 22), -1)
    tinted = base.astype(np.float32)
    tinted[..., 0] *= 0.55
    tinted[..., 2] *= 1.25
    striped = base.copy()
    striped[::8] = 255
    frames += [covered, np.clip(tinted, 0, 255).astype(np.uint8), striped]
    out: set[str] = set()

    def keep(results: list[CheckResult] | tuple[CheckResult, ...]) -> None:
        out.update(r.detail for r in results)

    reference = Reference.from_prepared(prepare(base))
    for frame in frames:
        keep(diagnose(prepare(frame), frozen=FrozenTracker(), reference=reference))
        keep(diagnose(prepare(frame), frozen=FrozenTracker(), reference=None))
    keep([check_stripes(prepare(striped)), check_stripes(prepare(base))])
    # A frozen picture over samples (only the clock changes), then a live one; a still scene unsure.
    frozen = FrozenTracker()
    still = prepare(base)
    for _ in range(4):
        keep(diagnose(still, frozen=frozen, reference=reference, bitstream=Bitstream.of(50_000, [100] * 24)))
    keep(diagnose(prepare(scene(w, h, seed=5, person_x=0.3)), frozen=frozen, reference=reference))
    unsure = FrozenTracker()
    for _ in range(3):
        keep(diagnose(still, frozen=unsure, reference=reference, bitstream=Bitstream.of(50_000, [9_000] * 24)))
    keep(diagnose(still, frozen=FrozenTracker(), reference=reference, second=prepare(scene(w, h, seed=1))))
    # Shake: the whole picture shifted between two keyframes; a still pair; no second picture.
    shifted = np.roll(base, 24, axis=1)
    keep([check_shake(prepare(base), prepare(shifted)), check_shake(still, still), check_shake(still, None)])
    # The camera moved: confirmed over samples.
    tracker = SceneTracker()
    moved = prepare(scene(w, h, variant=1))
    for _ in range(4):
        keep([tracker.confirm(check_scene(moved, reference))])
    # The camera reports tampering (ONVIF) with and without a covered picture.
    keep(with_camera_tamper(tuple(diagnose(prepare(covered), frozen=FrozenTracker(), reference=None)), True))
    keep(with_camera_tamper(tuple(diagnose(still, frozen=FrozenTracker(), reference=None)), True))
    keep(diagnose(prepare(None), frozen=FrozenTracker(), reference=None))
    keep(diagnose(prepare(base[:20, :20]), frozen=FrozenTracker(), reference=None))
    # What the sampler adds at night.
    out.update(f"{d} [night thresholds]" for d in list(out)[:5])
    return {d for d in out if d}


def _footage_details() -> set[str]:
    """What the checks say of real footage nobody here made: vtest.avi (people outdoors) and tree.avi."""
    out: set[str] = set()
    for name in (VTEST, TREE):
        frames = read_frames(name, limit=60)[::6]
        frozen = FrozenTracker()
        reference = Reference.from_prepared(prepare(frames[0]))
        tracker = SceneTracker()
        for frame, following in itertools.pairwise(frames):
            results = diagnose(prepare(frame), frozen=frozen, reference=reference, second=prepare(following))
            out.update(r.detail for r in results)
            out.add(tracker.confirm(check_scene(prepare(frame), reference)).detail)
    return {d for d in out if d}


def test_every_picture_check_detail_reads_in_chinese() -> None:
    details = _details() | _footage_details()
    assert len(details) > 40, details
    with i18n.using("zh-CN"):
        left = {d: _english_left(phrase_text(d)) for d in details}
    untranslated = {d: words for d, words in left.items() if words}
    assert not untranslated, untranslated


@pytest.mark.parametrize(
    ("message", "chinese"),
    [
        (
            "Intrusion: 2 people inside the area (rule 'door', zone 'gate').",
            "区域入侵：区域内有 2 人（规则「door」，区域「gate」）。",
        ),
        (
            "Loitering: 1 person stayed at least 60 s (longest 75 s) (rule 'lobby').",
            "徘徊：1 人停留至少 60 秒（最长 75 秒）（规则「lobby」）。",
        ),
        ("Line crossing: track 7 crossed going left (rule 'l').", "越界：目标 7 向左越线（规则「l」）。"),
        (
            "Line crossing: track 7 crossed the line in the watched direction (rule 'in', zone 'main-gate').",
            "越界：目标 7 按监视方向越线（规则「in」，区域「main-gate」）。",
        ),
        ("Crowding: 5 people where at most 3 may be (rule 'q').", "人员聚集：5 人，上限 3 人（规则「q」）。"),
        ("Possible fall: 1 person lying for at least 10 s (rule 'f').", "疑似跌倒：1 人倒地至少 10 秒（规则「f」）。"),
    ],
)
def test_event_messages_read_in_chinese(message: str, chinese: str) -> None:
    with i18n.using("zh-CN"):
        assert phrase_text(message) == chinese
    with i18n.using("en"):
        assert phrase_text(message) == message


def test_nested_details_keep_their_figures_and_unknown_text_stays() -> None:
    detail = (
        "picture repeats in 3 samples since the last live one, only the clock changes (temporal noise 0.11"
        " levels against the previous sample, P-frames 0.20% of the keyframe) [night thresholds]"
    )
    with i18n.using("zh-CN"):
        assert phrase_text(detail) == (
            "自上次画面变化以来 3 次采样画面重复，仅时钟在变"
            "（与上一次采样的时域噪声 0.11 级，P 帧为关键帧的 0.20%）［夜间阈值］"
        )
        assert phrase_text("something nobody wrote a template for") == "something nobody wrote a template for"
        assert phrase_text("mean luma 12.0 (min 35); a new remark") == "平均亮度 12.0（下限 35）；a new remark"


def test_every_template_has_distinct_numbered_figures() -> None:
    for template in TEMPLATES:
        numbers = [int(n) for n in re.findall(r"\{(\d)\}", template)]
        assert numbers == sorted(set(numbers)) and numbers == list(range(len(numbers))), template
