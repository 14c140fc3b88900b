"""Where the site's recordings live (`recorders:` and each camera's `recordings:`) and the recording
policy (`policy.recordings`).

A camera's recordings are on an NVR that several cameras share (`recorder` + `channel`), on the
camera itself (`onvif: true`: its own Profile G search and replay), or reachable only by a vendor's
playback URL (`playback_url`: Hikvision `/Streaming/tracks/101?starttime=...`, Dahua
`/cam/playback?...`). Only the first two can be searched, so only they can be audited: a camera with a
playback URL alone has recordings that are "not verifiable".
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from gateway.config.base import Model, Slug
from gateway.config.secrets import SecretRef, secret_issues
from gateway.errors import ConfigIssue
from gateway.i18n import _

# The fields a playback URL template may use: the span's start and end, formatted as the vendors want
# them (Hikvision and Dahua both take a compact UTC or local time; the format is the template's choice).
TEMPLATE_FIELDS = frozenset({"start", "end"})
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")


class RecorderOnvif(Model):
    host: str = Field(min_length=1, pattern=_HOST.pattern)
    port: int = Field(default=80, ge=1, le=65535)


class RecorderCredentials(Model):
    username: str = Field(min_length=1)
    password: SecretRef | None = None


class RecorderConfig(Model):
    """An NVR (or any recording device) with ONVIF Profile G, shared by the cameras it records."""

    id: Slug
    name: str | None = None
    onvif: RecorderOnvif
    credentials: RecorderCredentials | None = None
    max_queries_per_minute: int = Field(
        default=30,
        ge=1,
        le=600,
        description="Searches the recording audit may send to this device per minute: an NVR is shared",
    )
    max_replay_sessions: int = Field(
        default=4, ge=1, le=64, description="Replays (playback, download) at once from this device"
    )


class CameraRecordings(Model):
    """Where one camera's recordings live: exactly one of recorder, onvif, playback_url."""

    recorder: Slug | None = Field(default=None, description="Id of the recorder (recorders[].id) holding them")
    channel: str | None = Field(
        default=None,
        min_length=1,
        description="The recording on that recorder: its token, source id or source name",
    )
    onvif: bool = Field(default=False, description="The camera's own Profile G search and replay")
    playback_url: str | None = Field(
        default=None,
        description="A vendor's playback URL, with {start} and {end} in strftime form after a colon,"
        " e.g. rtsp://nvr/Streaming/tracks/101?starttime={start:%Y%m%dT%H%M%SZ}&endtime={end:%Y%m%dT%H%M%SZ}",
    )

    @model_validator(mode="after")
    def _one_place(self) -> CameraRecordings:
        places = (("recorder", self.recorder), ("onvif", self.onvif), ("playback_url", self.playback_url))
        given = [name for name, on in places if on]
        if len(given) != 1:
            raise ValueError(_("give exactly one of 'recorder' (with 'channel'), 'onvif: true' or 'playback_url'"))
        if self.recorder is not None and self.channel is None:
            raise ValueError(_("'recorder' needs 'channel': which of its recordings is this camera's"))
        if self.recorder is None and self.channel is not None:
            raise ValueError(_("'channel' belongs with 'recorder'"))
        if self.playback_url is not None:
            _check_template(self.playback_url)
        return self


def _check_template(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
        raise ValueError(_("'playback_url' must be an rtsp:// or rtsps:// URL with a host"))
    if parts.username is not None or parts.password is not None:
        raise ValueError(_("credentials do not belong in the URL: the camera's credentials are used"))
    fields = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(
            _("'playback_url' may use only {{start}} and {{end}}, not {fields}").format(fields=sorted(unknown))
        )
    if fields != TEMPLATE_FIELDS:
        raise ValueError(_("'playback_url' needs both {{start}} and {{end}}").format())


class RecordingsPolicy(Model):
    """`policy.recordings`: how recordings are audited and judged."""

    audit_interval_s: float = Field(
        default=3600.0, ge=60, le=86400, description="How often each camera's recorded spans are searched"
    )
    min_completeness_percent: float = Field(
        default=99.0, ge=0, le=100, description="Share of each day that must be recorded"
    )
    max_gap_s: float = Field(
        default=300.0, gt=0, le=86400, description="A gap in a recording longer than this is a finding"
    )


class _CameraLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def recordings(self) -> CameraRecordings | None: ...

    @property
    def has_onvif(self) -> bool: ...


def cross_check(
    recorders: Sequence[RecorderConfig], cameras: Sequence[_CameraLike], *, check_secrets: bool
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    ids: set[str] = set()
    for i, recorder in enumerate(recorders):
        if recorder.id in ids:
            issues.append(ConfigIssue(f"recorders[{i}].id", _("duplicate recorder id"), recorder.id))
        ids.add(recorder.id)
        if check_secrets and recorder.credentials is not None:
            issues.extend(secret_issues(recorder.credentials.password, f"recorders[{i}].credentials.password"))
    for j, camera in enumerate(cameras):
        rec = camera.recordings
        if rec is None:
            continue
        where = f"cameras[{j}].recordings"
        if rec.recorder is not None and rec.recorder not in ids:
            issues.append(ConfigIssue(f"{where}.recorder", _("no recorder with this id is declared"), rec.recorder))
        if rec.onvif and not camera.has_onvif:
            issues.append(
                ConfigIssue(f"{where}.onvif", _("the camera's own Profile G needs its source.onvif address"), "true")
            )
    return issues
