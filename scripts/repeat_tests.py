"""Run chosen tests N times and name every test that failed at least once, with its first failure.

    .venv/bin/python -m scripts.repeat_tests --runs 5 tests/integration tests/faults
    .venv/bin/python -m scripts.repeat_tests --runs 50 \
        tests/integration/test_mqtt_publisher.py::test_publish_many_counts_the_acknowledged_prefix
    .venv/bin/python -m scripts.repeat_tests --runs 5 tests/faults -- -n 2     # extra pytest arguments

Each run is a fresh pytest process writing JUnit XML to a temporary folder; the summary counts runs,
passes, failures and errors per test id, and prints the first failure's message and the run it came
from. The exit status is 1 when any test failed in any run. A flake found this way is a bug to be
root-caused (docs/testing.md), not a reason to retry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Record:
    runs: int = 0
    failed: int = 0
    first_failure: str = ""
    first_failed_run: int = 0
    seconds: list[float] = field(default_factory=list)


def _test_id(case: ElementTree.Element) -> str:
    classname = case.get("classname", "")
    # JUnit class names are dotted module paths; rebuild pytest's node id for copy and paste.
    parts = classname.split(".")
    path = "/".join(parts)
    for cut in range(len(parts), 0, -1):
        candidate = REPO / ("/".join(parts[:cut]) + ".py")
        if candidate.exists():
            path = "/".join(parts[:cut]) + ".py" + "".join(f"::{p}" for p in parts[cut:])
            break
    return f"{path}::{case.get('name', '?')}"


def read_junit(path: Path) -> list[tuple[str, bool, str, float]]:
    """(test id, failed, first line of the failure, seconds) for every test case in one report."""
    out = []
    root = ElementTree.parse(path).getroot()
    for case in root.iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        message = "" if bad is None else (bad.get("message") or (bad.text or "")).strip().splitlines()[0][:400]
        out.append((_test_id(case), bad is not None, message, float(case.get("time", "0") or 0)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stop-on-failure", action="store_true", help="stop after the first run with a failure")
    parser.add_argument("tests", nargs="+", help="pytest paths or node ids; arguments after -- go to pytest")
    args, extra = parser.parse_known_args(argv)
    if "--" in (argv if argv is not None else sys.argv[1:]):
        extra = [a for a in extra if a != "--"]
    records: dict[str, Record] = defaultdict(Record)
    walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="repeat-tests-") as tmp:
        for run in range(1, args.runs + 1):
            report = Path(tmp) / f"run-{run}.xml"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
            started = time.monotonic()
            proc = subprocess.run(  # noqa: S603 - pytest with the arguments its caller gave
                [*cmd, *extra, *args.tests], cwd=REPO, capture_output=True, text=True, check=False
            )
            walls.append(time.monotonic() - started)
            tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
            print(f"run {run}/{args.runs}: exit {proc.returncode} in {walls[-1]:.0f} s: {tail[0]}", flush=True)
            if not report.exists():
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                return 2
            any_failed = False
            for test_id, failed, message, seconds in read_junit(report):
                rec = records[test_id]
                rec.runs += 1
                rec.seconds.append(seconds)
                if failed:
                    any_failed = True
                    rec.failed += 1
                    if not rec.first_failure:
                        rec.first_failure, rec.first_failed_run = message, run
            if any_failed and args.stop_on_failure:
                break
    flaky = {k: r for k, r in records.items() if r.failed}
    walls.sort()
    print(f"\n{len(records)} tests, {len(walls)} runs, median wall {walls[len(walls) // 2]:.0f} s")
    if not flaky:
        print("no test failed in any run")
        return 0
    print(f"{len(flaky)} test(s) failed at least once:")
    for test_id, rec in sorted(flaky.items()):
        print(f"  {test_id}: failed {rec.failed} of {rec.runs}; first in run {rec.first_failed_run}:")
        print(f"      {rec.first_failure}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
