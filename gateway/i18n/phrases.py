"""Texts the gateway keeps in English, shown in the reader's language: picture-check details and the
messages of detection events.

Both are made where the work is done (gateway/quality, gateway/analytics), stored in the history as
they were made, and read later by people in either language, so they are translated where they are
shown, not where they are made. Each English template below is the exact form its maker writes,
with {0}, {1}... where the figures go; a text is matched against the templates whole, its figures are
kept, and words inside them (a hue, a direction) and nested phrases are translated in turn. A text no
template matches is split at "; " and each part is tried alone; what is still unknown stays as written.

A test (tests/unit/test_i18n_phrases.py) makes every picture check and rule produce its texts on real
frames and fails on any that does not translate completely, so a new wording in the makers fails there.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from gateway.i18n import N_, Language, current, gettext, using

#: Wrappers first: they hold other phrases, which are translated in turn. Details joined by "; " are
#: translated part by part, so a phrase that follows another ("...; differs in 1/3 samples") stands alone.
TEMPLATES: Final[tuple[str, ...]] = (
    # gateway/quality/sampler.py, evidence.py, scene.py: wrappers around a check's own detail
    N_("{0} [night thresholds]"),
    N_("{0} ({1} samples in a row)"),
    N_("scene changed: {0}"),
    N_("the camera itself reports tampering (ONVIF)"),
    N_("the camera reports tampering, but the picture shows the scene"),
    N_("differs in {0}/{1} samples, confirming"),
    # gateway/quality/frames.py, sampler.py, checks.py: no picture to check
    N_("no frame decoded"),
    N_("not an image (shape {0})"),
    N_("frame too small ({0})"),
    N_("unsupported channel count {0}"),
    N_("keyframe did not decode: {0}"),
    N_("keyframe gave no picture"),
    N_("frame is blank"),
    N_("picture overexposed: its colours are clipped (see bright)"),
    N_("picture too dark to judge focus (see dark)"),
    N_("the view is hidden (see occlusion)"),
    # gateway/quality/picture.py
    N_("black frame: {0} of pixels within ±{1} of luma {2}"),
    N_("uniform (no signal) frame: {0} of pixels within ±{1} of luma {2}"),
    N_("{0} of pixels near the median luma {1}"),
    N_("mean luma {0} (min {1})"),
    N_("mean luma {0}, {1} of pixels clipped"),
    N_("frame too small for the focus check"),
    N_("too little texture to judge focus ({0} textured blocks)"),
    N_("sharpness {0} over {1} blocks (min {2})"),
    N_("whole frame too dark to tell a covered lens from a dark scene (see dark)"),
    N_("{0} of the frame is dark and featureless"),
    N_("too few exposed pixels to judge colour"),
    N_("mean chroma a={0} b={1} ({2}), distance {3}, spread {4}"),
    N_("the camera's usual colour (its reference differs by {0} only)"),
    N_("{0} away from the camera's usual colour"),
    N_("too few exposed regions to estimate noise"),
    N_("noise sigma {0} levels (max {1})"),
    N_("picture too dark to judge its contrast (see dark)"),
    N_("luma spread {0} levels between the 5th and 95th percentiles (min {1})"),
    N_("no periodic pattern across the picture"),
    N_("{0} stripes: amplitude {1} levels, period {2} px of {3}, {4}x the background"),
    # gateway/quality/scene.py
    N_("no reference picture stored"),
    N_("reference size {0} differs from {1}"),
    N_("reference has too little texture ({0}/{1} blocks)"),
    N_("correlation with the reference {0} over {1} blocks"),
    # gateway/quality/temporal.py
    N_("first sample: nothing to compare with yet"),
    N_("live picture: {0} of the frame moved; {1}"),
    N_("live picture: {0}"),
    N_("picture repeats in {0} samples since the last live one, only the clock changes ({1})"),
    N_(
        "picture almost still ({0}): the P-frames carry changes the keyframes do not show; "
        "cannot tell frozen from still"
    ),
    N_("picture almost still ({0}): the encoder may be smoothing a still scene; cannot tell frozen from still"),
    N_("picture repeats in {0}/{1} samples ({2}); confirming"),
    N_("{0}, P-frames {1} of the keyframe"),
    N_("temporal noise {0} levels against the next keyframe"),
    N_("temporal noise {0} levels against the previous sample"),
    N_("needs a second picture close in time (the next keyframe came too late)"),
    N_("no global shift ({0} of the width, response {1})"),
    N_("a part of the picture moved, not the camera (response {0})"),
    N_("the two pictures do not differ (response {0})"),
    N_("picture shifted {0} of its width between two keyframes (response {1})"),
    # gateway/analytics/rules.py: an event's message, "<what> (<where>)."
    N_("{0} (rule '{1}', zone '{2}')."),
    N_("{0} (rule '{1}')."),
    N_("Intrusion: {0} inside the area"),
    N_("Loitering: {0} stayed at least {1} s (longest {2} s)"),
    N_("Crowding: {0} where at most {1} may be"),
    N_("Possible fall: {0} lying for at least {1} s"),
    N_("Line crossing: track {0} crossed the line in the watched direction"),
    N_("Line crossing: track {0} crossed going {1}"),
    N_("{0} person"),
    N_("{0} people"),
)

#: The templates whose figures are whole phrases, which may themselves hold "; ".
WRAPPERS: Final = frozenset(TEMPLATES[:3])

#: Single words that appear as a template's figure.
WORDS: Final[tuple[str, ...]] = (
    N_("red"),
    N_("green"),
    N_("yellow"),
    N_("blue"),
    N_("horizontal"),
    N_("vertical"),
    N_("up"),
    N_("down"),
    N_("left"),
    N_("right"),
)

_GROUP = re.compile(r"\\\{(\d)\\\}")


def _group(figure: str, match: re.Match[str]) -> str:
    return f"(?P<g{match.group(1)}>{figure})"


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for template in TEMPLATES:
        # Each {n} becomes a lazy group; the template is matched whole, so the literal text around a
        # group decides where it ends. Outside the wrappers a figure never holds "; ": that joins phrases,
        # which are tried part by part.
        figure = ".+?" if template in WRAPPERS else "[^;]+?"
        pattern = _GROUP.sub(functools.partial(_group, figure), re.escape(template))
        out.append((re.compile(pattern, re.DOTALL), template))
    return tuple(out)


def _translate(text: str, depth: int) -> str:
    if depth > 6 or not text:
        return text
    if text in WORDS:
        return gettext(text)
    for pattern, template in _patterns():
        match = pattern.fullmatch(text)
        if match is None:
            continue
        groups = match.groupdict()
        args = [_translate(groups[f"g{i}"], depth + 1) for i in range(len(groups))]
        return gettext(template).format(*args)
    if "; " in text:
        return gettext("; ").join(_translate(part, depth + 1) for part in text.split("; "))
    return text


def phrase_text(text: str | None) -> str:
    """`text` (a picture-check detail, an event message) in the current language."""
    if not text:
        return ""
    language = current()
    if language == "en":
        return text
    return _cached(language, text)


# A page shows the same details again on every refresh, and event messages repeat: a matched text is
# kept (tens of microseconds of regular expressions each time otherwise).
@functools.lru_cache(maxsize=4096)
def _cached(language: Language, text: str) -> str:
    with using(language):
        return _translate(text, 0)
