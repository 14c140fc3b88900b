"""`python -m fuzz --seconds N [target ...]`: run each fuzz target in its own libFuzzer process.

Targets run one after another (each `-max_total_time=N`, with an RSS limit and a per-input
timeout). The working corpus grows in var/fuzz/corpus/<target>/ (the committed seeds in
fuzz/corpus/<target>/ are only read); a crash, timeout or OOM input is written to
var/fuzz/crashes/<target>/ and the full log to var/fuzz/logs/<target>.log. Prints a summary table
and exits 1 if any target crashed (or did not run), 0 otherwise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fuzz import CORPUS_ROOT, TARGETS

_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.MULTILINE)
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Result:
    target: str
    seconds: float
    executions: int
    coverage: int | None
    features: int | None
    crashes: list[str]
    returncode: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes and self.executions > 0


def run_target(
    target: str, *, seconds: int, workdir: Path, rss_limit_mb: int, timeout_s: int, runs: int | None = None
) -> Result:
    """Fuzz one target for `seconds` in a subprocess and read what libFuzzer reports."""
    corpus = workdir / "corpus" / target
    crashes = workdir / "crashes" / target
    logs = workdir / "logs"
    for folder in (corpus, crashes, logs):
        folder.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    cmd = [
        sys.executable,
        "-m",
        f"fuzz.{target}",
        str(corpus),
        str(CORPUS_ROOT / target),
        f"-max_total_time={seconds}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-malloc_limit_mb={rss_limit_mb}",
        f"-timeout={timeout_s}",
        "-max_len=65536",
        "-print_final_stats=1",
        f"-artifact_prefix={crashes}/",
    ]
    if runs is not None:
        cmd.append(f"-runs={runs}")
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=seconds * 2 + 120,
    )
    elapsed = time.monotonic() - started
    output = proc.stdout
    (logs / f"{target}.log").write_text(output, encoding="utf-8")
    stats = {name: int(value) for name, value in _STAT.findall(output)}
    status = _STATUS.findall(output)
    new = sorted(str(p) for p in set(crashes.iterdir()) - before)
    new += [p for p in _ARTIFACT.findall(output) if p not in new]
    executions = stats.get("number_of_executed_units", int(status[-1][0]) if status else 0)
    return Result(
        target=target,
        seconds=elapsed,
        executions=executions,
        coverage=int(status[-1][1]) if status else None,
        features=int(status[-1][2]) if status else None,
        crashes=new,
        returncode=proc.returncode,
    )


def _table(results: list[Result]) -> str:
    rows = [("target", "seconds", "executions", "cov", "ft", "crashes", "result")]
    for r in results:
        rows.append(
            (
                r.target,
                f"{r.seconds:.0f}",
                str(r.executions),
                "-" if r.coverage is None else str(r.coverage),
                "-" if r.features is None else str(r.features),
                str(len(r.crashes)),
                "ok" if r.ok else f"FAIL (exit {r.returncode})",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    for r in results:
        lines += [f"crash input ({r.target}): {path}" for path in r.crashes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", metavar="target", help="any of " + ", ".join(TARGETS) + " (default: all)")
    parser.add_argument("--seconds", type=int, default=120, help="fuzzing time per target (default 120)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit per target process")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it is a hang")
    parser.add_argument("--workdir", type=Path, default=Path("var/fuzz"), help="corpus, crashes and logs")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    targets = args.targets or list(TARGETS)
    results = []
    for target in targets:
        result = run_target(
            target,
            seconds=args.seconds,
            workdir=args.workdir,
            rss_limit_mb=args.rss_limit_mb,
            timeout_s=args.timeout,
        )
        print(f"{target}: {result.executions} executions, {len(result.crashes)} crash(es)", flush=True)
        results.append(result)
    print(_table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
