"""What a camera says about itself, weighed with what its picture shows.

A camera's own tamper detector (an ONVIF tamper event, ``gateway/device_events.py``) sees every frame at
full resolution; the gateway samples two keyframes a minute. When the camera reports tampering and
the sampled picture cannot rule it out (the covered-lens check fails or cannot judge, e.g. at night),
the lens counts as covered. When the picture clearly shows an uncovered scene, the picture wins (a
tamper rule also fires on a passing lorry or a sudden light) and the camera's word is shown beside it.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.quality.frames import CheckResult


def with_camera_tamper(results: tuple[CheckResult, ...], tampered: bool | None) -> tuple[CheckResult, ...]:
    """The diagnosis with the camera's own tamper state (True: it reports tampering now) folded into
    the covered-lens (occlusion) check; unchanged when the camera says nothing or no tampering."""
    if not tampered:
        return results
    out = []
    for r in results:
        if r.name == "occlusion":
            if r.state == "pass":
                r = replace(r, detail=f"{r.detail}; the camera reports tampering, but the picture shows the scene")
            else:
                r = replace(r, state="fail", detail=f"the camera itself reports tampering (ONVIF); {r.detail}")
        out.append(r)
    return tuple(out)
