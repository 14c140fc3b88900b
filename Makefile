# The two commands of the README: `make demo` and `make test`. Both install what they need first.
.PHONY: setup demo test lint unit integration clips faults fuzz soak

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/gateway demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	.venv/bin/python -m pytest -q -p no:cacheprovider

unit: setup
	.venv/bin/python -m pytest -q tests/unit

integration: setup
	.venv/bin/python -m pytest -q tests/integration

clips: setup
	.venv/bin/python samples/make_clips.py

# The fault suite on its own; rewrites docs/faults.md with the measured table.
faults: setup
	GATEWAY_FAULT_TABLE=docs/faults.md .venv/bin/python -m pytest -q -p no:cacheprovider tests/faults

# Coverage-guided fuzzing of the network-facing parsers, 120 s per target (see docs/security.md).
fuzz: setup
	.venv/bin/python -m fuzz --seconds 120

# The long soak run (hours, out of CI; see docs/soak.md).
soak: setup
	.venv/bin/python -m scripts.soak --hours 4
