"""`python -m sim demo`: the simulated site and the gateway on it (what `make demo` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description="The simulated site of the gateway's demo")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run a simulated site of local RTSP cameras and the gateway on it")
    p.add_argument("--config-file", type=Path, default=Path("configs/demo-site.yaml"))
    p.add_argument("--samples", type=Path, default=Path("samples/clips"), help="where sample clips are made")
    p.add_argument("--port", type=int, default=None, help="API port (default: the config's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sim.demo import run_demo

    return run_demo(config_path=args.config_file, samples_dir=args.samples, api_port=args.port)


if __name__ == "__main__":
    sys.exit(main())
