"""CI smoke run of every fuzz target through the same runner as `make fuzz`, for a short budget.

Targets run one after another (2 CI cores: parallel runs would only fight over them), 3 s each,
under 45 s in all. The real budget is `python -m fuzz --seconds 120` (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz import TARGETS
from fuzz.__main__ import main, run_target

SECONDS = 3


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_without_a_crash(target: str, tmp_path: Path) -> None:
    result = run_target(target, seconds=SECONDS, workdir=tmp_path, rss_limit_mb=2048, timeout_s=10)
    log = (tmp_path / "logs" / f"{target}.log").read_text(encoding="utf-8")
    assert result.crashes == [], log[-3000:]
    assert result.returncode == 0, log[-3000:]
    assert result.executions > 0, log[-3000:]
    assert result.coverage is not None and result.coverage > 0
    assert not any((tmp_path / "crashes" / target).iterdir())


def test_runner_refuses_an_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--seconds", "1", "nosuchtarget"])
    assert caught.value.code == 2
    assert "unknown target(s) nosuchtarget" in capsys.readouterr().err


CRASH_LOG = """INFO: Seed: 1
#2\tINITED cov: 40 ft: 41 corp: 1/10b exec/s: 0 rss: 48Mb
#57\tNEW    cov: 53 ft: 60 corp: 2/20b lim: 30 exec/s: 0 rss: 48Mb L: 10/10 MS: 1 ChangeBit-
 === Uncaught Python exception: ===
IndexError: list index out of range
==1== ERROR: libFuzzer: fuzz target exited
artifact_prefix='{crashes}/'; Test unit written to {crashes}/crash-abc
stat::number_of_executed_units: 57
stat::peak_rss_mb:              48
"""


def test_runner_reports_a_crash_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the runner makes of libFuzzer's report of a crash (libFuzzer itself is faked here)."""
    import subprocess

    crashes = tmp_path / "crashes" / "sdp"

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert f"-artifact_prefix={crashes}/" in cmd
        (crashes / "crash-abc").write_bytes(b"v=0")
        return subprocess.CompletedProcess(cmd, 77, CRASH_LOG.format(crashes=crashes), None)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert main(["--seconds", "1", "--workdir", str(tmp_path), "sdp"]) == 1
    out = capsys.readouterr().out
    assert "sdp: 57 executions, 1 crash(es)" in out
    assert f"crash input (sdp): {crashes}/crash-abc" in out
    result = run_target("sdp", seconds=1, workdir=tmp_path, rss_limit_mb=64, timeout_s=1)
    assert (result.executions, result.coverage, result.features, result.ok) == (57, 53, 60, False)
