# The two commands of the README: `make demo` and `make test`. Both install what they need first.
.PHONY: setup demo test lint unit integration clips

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
