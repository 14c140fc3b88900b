"""When an online camera counts as degraded: too slow, or below the HD threshold of the policy."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import CameraConfig, GatewayConfig, Resolution
from gateway.health.state import MeasuredStream

# A camera degraded for its frame rate recovers only 10 % above the threshold, so a stream hovering
# at the limit does not flap between online and degraded every second.
RECOVERY_MARGIN = 1.1


@dataclass(frozen=True)
class HealthPolicy:
    hd_min: Resolution
    min_fps: float

    @classmethod
    def from_config(cls, config: GatewayConfig) -> HealthPolicy:
        return cls(hd_min=config.hd_min_resolution(), min_fps=config.policy.min_fps)

    def degradation(self, camera: CameraConfig, measured: MeasuredStream, previous: str | None = None) -> str | None:
        """A short, stable reason why the stream is not good enough, or None when it is.

        The reason names thresholds, not live figures, so that it changes only when the verdict does.
        """
        reasons = []
        fps = measured.fps
        if fps is not None:
            expected = camera.expected.fps
            if expected is not None and expected / 2 > self.min_fps:
                threshold, why = expected / 2, f"frame rate below half the expected {expected:g} fps"
            else:
                threshold, why = self.min_fps, f"frame rate below the minimum {self.min_fps:g} fps"
            if previous is not None and why in previous:
                threshold *= RECOVERY_MARGIN
            if fps < threshold:
                reasons.append(why)
        if measured.width and measured.height:
            res = Resolution(width=measured.width, height=measured.height)
            if not res.at_least(self.hd_min):
                reasons.append(f"{res} is below HD ({self.hd_min})")
        return "; ".join(reasons) or None
