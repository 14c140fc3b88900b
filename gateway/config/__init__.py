"""The gateway's one config tree: pydantic models loaded from YAML, validated completely at start.

Every model forbids unknown keys, so a typo is an error with its key path, never a silently
ignored setting. `load_config` collects *all* problems (structure first, then cross-references
and secrets) and raises one ConfigError listing each with its key path.

One module per part of the tree: `base` (the base model, small validated types), `secrets`,
`site`, `cameras`, `policy`, `system` (supervisor, ONVIF, server, storage, instance, logging),
`analytics`, `gb28181`, `outbox`, `liveview`, `recordings`, `uplinks`, `root` (`GatewayConfig` and the checks
across sections) and `loading` (YAML to a validated tree). The package imports only itself, the
models (gateway.errors, gateway.quality's thresholds and check names, gateway.analytics.geometry)
and adapters' URL redaction: never a feature (tests/unit/test_layering.py).
"""

from gateway.config.base import GbId
from gateway.config.cameras import (
    CAMERA_TYPE_CODES,
    CameraConfig,
    CredentialsConfig,
    ExpectedStream,
    OnvifSource,
    Resolution,
    ResolutionField,
    SourceConfig,
)
from gateway.config.loading import config_from_bytes, issues_from_validation, load_config, parse_config
from gateway.config.policy import NightPolicy, PolicyConfig, QualityPolicy, StreamPolicy
from gateway.config.recordings import CameraRecordings, RecorderConfig, RecordingsPolicy
from gateway.config.root import GatewayConfig
from gateway.config.secrets import SecretRef
from gateway.config.site import SiteConfig, UnitConfig, ZoneConfig, ZoneKind
from gateway.config.system import (
    InstanceConfig,
    LoggingConfig,
    OnvifConfig,
    ServerConfig,
    StorageConfig,
    SupervisorConfig,
)
from gateway.config.uplinks import UplinksConfig

__all__ = [
    "CAMERA_TYPE_CODES",
    "CameraConfig",
    "CameraRecordings",
    "CredentialsConfig",
    "ExpectedStream",
    "GatewayConfig",
    "GbId",
    "InstanceConfig",
    "LoggingConfig",
    "NightPolicy",
    "OnvifConfig",
    "OnvifSource",
    "PolicyConfig",
    "QualityPolicy",
    "RecorderConfig",
    "RecordingsPolicy",
    "Resolution",
    "ResolutionField",
    "SecretRef",
    "ServerConfig",
    "SiteConfig",
    "SourceConfig",
    "StorageConfig",
    "StreamPolicy",
    "SupervisorConfig",
    "UnitConfig",
    "UplinksConfig",
    "ZoneConfig",
    "ZoneKind",
    "config_from_bytes",
    "issues_from_validation",
    "load_config",
    "parse_config",
]
