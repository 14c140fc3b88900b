"""The CLI's, the config's and the API's messages in the user's language: Chinese by default, English on
request (the locale for the CLI, `site.language`, Accept-Language for the API). Key paths, JSON keys and
codes never change. The subprocess tests run the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import UserStore
from gateway.cli import main, report_summary
from gateway.config import GatewayConfig, parse_config
from gateway.config.loading import config_from_bytes, peek_language
from gateway.config.messages import validation_message
from gateway.errors import ConfigError
from gateway.i18n import current, using
from gateway.reports.model import Finding, Severity
from gateway.storage.db import Database
from tests.support.configs import MINIMAL

HAN = re.compile(r"[\u4e00-\u9fff]")
LOCALES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

# Wrong in the ways people get a config wrong: a bound, a kind, an unknown key, a URL, a cross-reference.
BAD_SITE: dict[str, Any] = {
    "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": -1}},
    "zones": [{"id": "gate", "name": "Gate", "kind": "door"}],
    "cameras": [{"id": "c1", "name": "C", "source": {"rtsp": "http://h/x"}, "zones": ["gate"], "fps": 3}],
    "server": {"port": 70000},
}
KEY_PATHS = ("site.unit.headcount", "zones[0].kind", "cameras[0].source", "cameras[0].fps", "server.port")


def run_cli(args: list[str], **locale: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCALES and not k.startswith("GATEWAY_")}
    env.update(locale)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def write(tmp_path: Path, data: dict[str, Any], name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def with_language(data: dict[str, Any], language: str) -> dict[str, Any]:
    return {**data, "site": {**data["site"], "language": language}}


def error_lines(out: str) -> dict[str, str]:
    """key path -> message, of check-config's indented lines."""
    lines = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    pairs = (re.split(r"[:：]", line, maxsplit=1) for line in lines)
    return {path: message.strip() for path, message in pairs}


def test_check_config_speaks_chinese_with_a_chinese_locale(tmp_path: Path) -> None:
    done = run_cli(["check-config", "--no-secrets", str(write(tmp_path, BAD_SITE))], LANG="zh_CN.UTF-8")
    assert done.returncode == 2, done.stderr
    assert "5 处错误" in done.stdout, done.stdout
    errors = error_lines(done.stdout)
    assert set(errors) == set(KEY_PATHS), done.stdout
    # Pydantic's own messages (bound, literal, extra key) and our validators' are all Chinese.
    assert errors["site.unit.headcount"] == "应大于或等于 0（值：-1）"
    assert errors["zones[0].kind"].startswith("应为 'entrance'、'crowded_area'"), errors
    assert errors["cameras[0].fps"] == "不支持的配置项（值：3）"
    assert errors["cameras[0].source"] == "'rtsp' 应为 rtsp:// 或 rtsps:// 地址"
    assert errors["server.port"] == "应小于或等于 65535（值：70000）"
    assert not re.search(r"Input should|Extra inputs|must be", done.stdout)
    assert "Traceback" not in done.stderr


def test_check_config_follows_the_site_language_when_the_locale_names_none(tmp_path: Path) -> None:
    chinese = run_cli(
        ["check-config", "--no-secrets", str(write(tmp_path, with_language(BAD_SITE, "zh-CN")))], LANG="C"
    )
    assert chinese.returncode == 2 and "5 处错误" in chinese.stdout, chinese.stdout
    assert all(HAN.search(m) for m in error_lines(chinese.stdout).values()), chinese.stdout
    english = run_cli(["check-config", "--no-secrets", str(write(tmp_path, with_language(BAD_SITE, "en")))], LANG="C")
    assert english.returncode == 2 and "5 error(s)" in english.stdout, english.stdout
    assert not HAN.search(english.stdout), english.stdout
    # No site.language at all: Chinese, the product's default.
    default = run_cli(["check-config", "--no-secrets", str(write(tmp_path, BAD_SITE))])
    assert "5 处错误" in default.stdout, default.stdout


def test_an_english_locale_wins_over_the_site_language(tmp_path: Path) -> None:
    path = write(tmp_path, with_language(BAD_SITE, "zh-CN"))
    done = run_cli(["check-config", "--no-secrets", str(path)], LANG="en_US.UTF-8")
    assert done.returncode == 2
    errors = error_lines(done.stdout)
    assert errors["site.unit.headcount"] == "Input should be greater than or equal to 0 (value: -1)"
    assert errors["cameras[0].fps"] == "Extra inputs are not permitted (value: 3)"
    assert not HAN.search(done.stdout), done.stdout
    good = write(tmp_path, with_language(MINIMAL, "zh-CN"), "good.yaml")
    ok = run_cli(["check-config", "--no-secrets", str(good)], LANG="zh_CN.UTF-8")
    assert ok.returncode == 0 and "检查通过（1 个区域，1 台摄像机）" in ok.stdout, ok.stdout
    ok = run_cli(["check-config", "--no-secrets", str(good)], LANG="en_US.UTF-8")
    assert ok.returncode == 0 and ": OK (1 zone(s), 1 camera(s))" in ok.stdout, ok.stdout


def test_a_file_that_is_not_yaml_is_reported_in_the_locale_or_chinese(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("site:\n  id: a\n  id: b\n  language: en\n", encoding="utf-8")
    # The duplicate key makes it invalid, but its site.language can still be read: English.
    assert peek_language(broken) == "en"
    done = run_cli(["check-config", str(broken)], LANG="C")
    assert "line 3, column 3: invalid YAML: duplicate key 'id'" in done.stdout, done.stdout
    unreadable = tmp_path / "unclosed.yaml"
    unreadable.write_text("site: [unclosed\n", encoding="utf-8")
    assert peek_language(unreadable) is None
    done = run_cli(["check-config", str(unreadable), str(tmp_path / "missing.yaml")], LANG="C")
    assert done.returncode == 2
    assert "第 2 行第 1 列：YAML 格式错误：" in done.stdout, done.stdout
    assert "（文件）：无法读取：" in done.stdout, done.stdout


def test_report_prints_its_summary_in_chinese(tmp_path: Path) -> None:
    config = {**MINIMAL, "storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"}}
    path = write(tmp_path, config)
    args = ["report", "-c", str(path), "--from", "1764547200", "--to", "1764633600", "-o", str(tmp_path / "r.json")]
    done = run_cli(args, LANG="zh_CN.UTF-8", TEST_CAM1_PASSWORD="x")
    assert done.returncode == 0, done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"覆盖率报告 .+：(合格|不合格)（\d+ 项不合格），已写入 .+r\.json", summary), summary
    english = run_cli(args, LANG="en_US.UTF-8", TEST_CAM1_PASSWORD="x")
    assert re.search(r"coverage report .+: (PASS|FAIL) \(\d+ failure\(s\)\), written to ", english.stderr), (
        english.stderr
    )


def finding(severity: Severity) -> Finding:
    return Finding(severity=severity, subject="zone gate", message="m")


def test_report_summary_words() -> None:
    findings = [finding("fail"), finding("warn"), finding("fail")]
    with using("zh-CN"):
        assert report_summary("2026-12-07", False, findings, None) == "覆盖率报告 2026-12-07：不合格（2 项不合格）"
        assert report_summary("x", True, [], Path("-")) == "覆盖率报告 x：合格（0 项不合格）"
    with using("en"):
        assert (
            report_summary("x", True, [], Path("r.pdf")) == "coverage report x: PASS (0 failure(s)), written to r.pdf"
        )


def test_the_cli_language_does_not_outlive_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    for name in LOCALES[:3]:
        monkeypatch.delenv(name, raising=False)
    assert current() == "zh-CN"
    assert main(["check-config", "--no-secrets", str(write(tmp_path, BAD_SITE))]) == 2
    assert "5 error(s)" in capsys.readouterr().out
    assert current() == "zh-CN"


def test_config_errors_follow_the_current_language() -> None:
    data = yaml.safe_dump(BAD_SITE).encode()
    for language, words in (("zh-CN", "处配置错误"), ("en", "config error(s)")):
        with using(language), pytest.raises(ConfigError) as info:  # type: ignore[arg-type]
            config_from_bytes(data, source="site.yaml")
        assert [i.path for i in info.value.issues] == list(KEY_PATHS)
        assert words in str(info.value)
    with using("zh-CN"), pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "zones": [*MINIMAL["zones"], {"id": "gate", "name": "x", "kind": "other"}]})
    assert "zones[1].id：区域 ID 重复（值：gate）" in str(info.value)
    with using("zh-CN"), pytest.raises(ConfigError) as info:
        parse_config(MINIMAL)  # its password's variable is not set
    assert str(info.value.issues[0]) == "cameras[0].credentials.password.env：环境变量 TEST_CAM1_PASSWORD 未设置"
    # A secret written where its reference belongs is refused in Chinese too, and never echoed.
    inline = {**MINIMAL["cameras"][0], "credentials": {"username": "u", "password": "written-here-1"}}
    with using("zh-CN"), pytest.raises(ConfigError) as info:
        parse_config({**MINIMAL, "cameras": [inline]}, check_secrets=False)
    assert str(info.value.issues[0]) == (
        "cameras[0].credentials.password：密钥不能直接写在配置中：请给出 {env: NAME} 或 {file: PATH}"
    )
    assert "written-here-1" not in str(info.value)


@pytest.mark.parametrize(
    ("kind", "ctx", "chinese"),
    [
        ("missing", None, "缺少必填项"),
        ("extra_forbidden", None, "不支持的配置项"),
        ("int_parsing", None, "应为整数"),
        ("float_parsing", None, "应为数字"),
        ("bool_parsing", None, "应为布尔值（true 或 false）"),
        ("string_too_short", {"min_length": 1}, "至少应有 1 个字符"),
        ("greater_than_equal", {"ge": 1}, "应大于或等于 1"),
        ("less_than_equal", {"le": 10}, "应小于或等于 10"),
        ("literal_error", {"expected": "'tcp' or 'udp'"}, "应为 'tcp' 或 'udp'"),
        ("string_pattern_mismatch", {"pattern": "^[a-z]+$"}, "格式不符合要求（应匹配 '^[a-z]+$'）"),
        ("url_scheme", {"expected_schemes": "'http' or 'https'"}, "地址协议应为 'http' 或 'https'"),
        ("something_new", None, "值无效（Something new went wrong）"),
    ],
)
def test_pydantic_messages_in_chinese(kind: str, ctx: dict[str, Any] | None, chinese: str) -> None:
    english = "Something new went wrong"
    with using("zh-CN"):
        assert validation_message(kind, english, ctx) == chinese
    with using("en"):
        # English keeps pydantic's own words, whatever they are.
        assert validation_message(kind, english, ctx) == english
    assert validation_message("value_error", "Value error, 已翻译", None) == "已翻译"


@pytest.fixture
def site(tmp_path: Path, gateway_storage_url: str, monkeypatch: pytest.MonkeyPatch) -> GatewayConfig:
    monkeypatch.setenv("TEST_CAM1_PASSWORD", "x")
    return parse_config({**MINIMAL, "storage": {"url": gateway_storage_url}})


def client_of(config: GatewayConfig) -> tuple[TestClient, dict[str, str]]:
    with Database(config.storage.url) as db:
        token = UserStore(db).add_user("boss", "admin")[1]
    return TestClient(create_app(config, start_cameras=False)), {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(site: GatewayConfig) -> Iterator[tuple[TestClient, dict[str, str]]]:
    client, auth = client_of(site)
    with client:
        yield client, auth


def test_api_messages_follow_accept_language(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    cases = [
        ("/api/v1/cameras/nope/health", auth, 404, "没有摄像机 'nope'", "no camera 'nope'"),
        ("/api/v1/cameras", {}, 401, "缺少 Bearer 令牌", "missing bearer token"),
        ("/api/v1/cameras", {"Authorization": "Bearer wrong"}, 401, "令牌无效或已吊销", "invalid or revoked token"),
        ("/api/v1/no-such-thing", auth, 404, "未找到", "Not Found"),
        (
            "/api/v1/cameras/cam1/uptime?from=2026-11-20T10:00:00&to=2026-11-19T10:00:00",
            auth,
            422,
            "'from' 应早于 'to'",
            "'from' must be before 'to'",
        ),
    ]
    for path, headers, status, chinese, english in cases:
        zh = client.get(path, headers={**headers, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        en = client.get(path, headers={**headers, "Accept-Language": "en-US,en;q=0.9"})
        default = client.get(path, headers=headers)
        assert zh.status_code == en.status_code == default.status_code == status, (path, zh.text, en.text)
        assert zh.json() == {"error": chinese}, path
        assert en.json() == {"error": english}, path
        assert default.json() == {"error": chinese}, path  # the site's language: Chinese
        assert "Traceback" not in zh.text + en.text


def test_api_validation_problems_follow_accept_language(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    zh = client.get("/api/v1/events/abc", headers={**auth, "Accept-Language": "zh-CN"})
    en = client.get("/api/v1/events/abc", headers={**auth, "Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert zh.json()["error"] == "请求无效" and en.json()["error"] == "invalid request"
    # The structure and the key paths are the same in both languages.
    assert [p["where"] for p in zh.json()["problems"]] == [p["where"] for p in en.json()["problems"]]
    assert zh.json()["problems"][0]["message"] == "应为整数"
    assert en.json()["problems"][0]["message"].startswith("Input should be a valid integer")


def test_an_english_site_answers_in_english_unless_asked(site: GatewayConfig) -> None:
    english_site = site.model_copy(update={"site": site.site.model_copy(update={"language": "en"})})
    client, auth = client_of(english_site)
    with client:
        assert client.get("/api/v1/cameras/nope/health", headers=auth).json() == {"error": "no camera 'nope'"}
        asked = client.get("/api/v1/cameras/nope/health", headers={**auth, "Accept-Language": "zh"})
        assert asked.json() == {"error": "没有摄像机 'nope'"}


def test_yaml_problems_in_chinese(tmp_path: Path) -> None:
    cases = {
        "site: [unclosed\n": "第 2 行第 1 列：YAML 格式错误：应为 ',' 或 ']'，实际为 '<stream end>'",
        "a:\n\tb: 1\n": "第 2 行第 1 列：YAML 格式错误：字符 '\\t' 不能作为值的开头",
        "a: b: c\n": "第 1 行第 5 列：YAML 格式错误：此处不能出现键值对（值中是否有未加引号的 ': '？）",
    }
    for text, chinese in cases.items():
        with using("zh-CN"), pytest.raises(ConfigError) as info:
            config_from_bytes(text.encode(), source="site.yaml")
        assert str(info.value.issues[0]) == chinese
        with using("en"), pytest.raises(ConfigError) as info:
            config_from_bytes(text.encode(), source="site.yaml")
        assert "invalid YAML: " in str(info.value.issues[0]) and not HAN.search(str(info.value))


def test_a_cameras_reason_is_worded_in_the_requests_language_beside_the_machine_reason() -> None:
    # The dashboard's refresh shows reason_text (its requests send the page's language); reason stays
    # as the gateway words it, for programs.
    from gateway.api.models import CameraOut
    from gateway.health.state import CameraState, CameraStatus

    config = parse_config(MINIMAL, check_secrets=False)
    reason = "704x576 is below HD (1280x720); picture check frozen failed"
    status = CameraStatus(config.cameras[0].id, CameraState.DEGRADED, reason, 1.0, faults=("below_hd",))
    with using("zh-CN"):
        zh = CameraOut.build(config.cameras[0], status)
    with using("en"):
        en = CameraOut.build(config.cameras[0], status)
    assert zh.reason == en.reason == reason
    assert zh.reason_text == "分辨率 704x576 低于高清标准（1280x720）；视频质量诊断未通过：画面冻结"
    assert en.reason_text == reason
    online = CameraStatus(config.cameras[0].id, CameraState.ONLINE, None, 1.0)
    assert CameraOut.build(config.cameras[0], online).reason_text is None
