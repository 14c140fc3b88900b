from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from adapters.common.redact import with_credentials
from gateway.cli import main
from gateway.config import load_config, parse_config
from gateway.errors import ConfigError
from tests.support.configs import MINIMAL

pytestmark = pytest.mark.usefixtures("english")

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def _paths(exc: ConfigError) -> list[str]:
    return [i.path for i in exc.issues]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    config = load_config(path, check_secrets=False)
    assert config.cameras and config.zones


def test_shipped_configs_pass_check_config_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert CONFIGS
    assert main(["check-config", "--no-secrets", *map(str, CONFIGS)]) == 0
    assert capsys.readouterr().out.count(": OK") == len(CONFIGS)


def test_minimal_config_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_hex(8)  # made per run
    monkeypatch.setenv("TEST_CAM1_PASSWORD", password)
    config = parse_config(MINIMAL)
    assert config.server.bind == "127.0.0.1"
    assert config.storage.url.startswith("sqlite:///")
    assert str(config.hd_min_resolution()) == "1280x720"  # not a key unit
    assert config.cameras[0].secret_url() == with_credentials("rtsp://cam.example:8554/a", "u", password)
    assert config.cameras[0].display_url() == "rtsp://u:***@cam.example:8554/a"


def test_key_unit_defaults_to_1080p() -> None:
    data = {**MINIMAL, "site": {**MINIMAL["site"], "unit": {"name": "U", "headcount": 1, "key_unit": True}}}
    assert str(parse_config(data, check_secrets=False).hd_min_resolution()) == "1920x1080"


def test_every_error_is_reported_with_its_key_path() -> None:
    broken = {
        "site": {"id": "Bad Id", "name": "x", "unit": {"name": "U", "headcount": -1}},
        "zones": [{"id": "gate", "name": "Gate", "kind": "door"}],
        "cameras": [
            {"id": "c1", "name": "C", "source": {"rtsp": "http://x/y"}, "zones": ["gate"]},
            {"id": "c2", "name": "C", "source": {}, "colour": "red"},
        ],
        "server": {"port": 70000},
        "policy": {"hd_min_resolution": "big"},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(broken)
    paths = _paths(info.value)
    for expected in (
        "site.id",
        "site.unit.headcount",
        "zones[0].kind",
        "cameras[0].source",
        "cameras[1].source",
        "cameras[1].colour",
        "server.port",
        "policy.hd_min_resolution",
    ):
        assert expected in paths, (expected, paths)
    text = str(info.value)
    assert "70000" in text and "door" in text


def test_cross_references_and_duplicates() -> None:
    data = {
        **MINIMAL,
        "zones": [*MINIMAL["zones"], {"id": "gate", "name": "Again", "kind": "other"}],
        "cameras": [
            {**MINIMAL["cameras"][0], "zones": ["gate", "nowhere"], "gb_channel_id": "12010100001110000001"},
            {**MINIMAL["cameras"][0]},
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, check_secrets=False)
    paths = _paths(info.value)
    assert "zones[1].id" in paths
    assert "cameras[0].zones[1]" in paths
    assert "cameras[0].gb_channel_id" in paths  # type 111 is a DVR, not a camera
    assert "cameras[1].id" in paths


def test_missing_secret_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_CAM1_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL)
    assert _paths(info.value) == ["cameras[0].credentials.password.env"]
    assert "TEST_CAM1_PASSWORD is not set" in str(info.value)


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    from_file = secrets.token_hex(8)  # made per run
    secret.write_text(from_file + "\n")
    cam = {**MINIMAL["cameras"][0], "credentials": {"username": "u", "password": {"file": str(secret)}}}
    config = parse_config({**MINIMAL, "cameras": [cam]})
    assert config.cameras[0].secret_url() == with_credentials("rtsp://cam.example:8554/a", "u", from_file)


def test_password_inline_in_url_is_refused_and_not_echoed() -> None:
    inline = secrets.token_hex(8)  # made per run
    cam = {**MINIMAL["cameras"][0], "source": {"rtsp": with_credentials("rtsp://cam.example/x", "admin", inline)}}
    with pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "cameras": [cam]}, check_secrets=False)
    assert _paths(info.value) == ["cameras[0].source"]
    assert inline not in str(info.value)


def test_yaml_errors_and_duplicate_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site:\n  id: a\n  id: b\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "duplicate key 'id'" in str(info.value)
    assert "line 3" in str(info.value)
    bad.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_check_config_cli_prints_all_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(
        "site: {id: s, name: S, unit: {name: U, headcount: 1}}\n"
        "cameras:\n  - {id: c1, name: C, source: {rtsp: 'rtsp://h/x'}, zones: [nope]}\n"
        "  - {id: c1, name: C, source: {rtsp: 'rtsp://h/y'}, fps: 3}\n"
    )
    assert main(["check-config", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "cameras[1].fps: Extra inputs are not permitted" in out
    # Cross-reference checks run once the structure is valid.
    bad.write_text(
        "site: {id: s, name: S, unit: {name: U, headcount: 1}}\n"
        "cameras:\n  - {id: c1, name: C, source: {rtsp: 'rtsp://h/x'}, zones: [nope]}\n"
        "  - {id: c1, name: C, source: {rtsp: 'rtsp://h/y'}}\n"
    )
    assert main(["check-config", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "2 error(s)" in out
    assert "cameras[0].zones[0]: no zone with this id is declared (value: nope)" in out
    assert "cameras[1].id: duplicate camera id" in out


def test_the_commented_uplinks_of_the_example_are_valid() -> None:
    """The example's uplink block is commented out (it needs secrets); uncommented it must parse."""
    text = (Path(__file__).parents[2] / "configs" / "example-school.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("# uplinks:")
    block = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines[start:]]
    data = yaml.safe_load("\n".join(lines[:start] + block))
    config = parse_config(data, check_secrets=False)
    assert [d.id for d in config.uplinks.destinations()] == [
        "security-centre",
        "alarm-desk",
        "city-viid",
        "wecom-duty",
        "dingtalk-chief",
        "mail-duty",
    ]
    assert config.uplinks.outbox.max_messages == 200_000
