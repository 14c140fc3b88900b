# The two commands of the README: `make demo` and `make test`. Both install what they need first.
.PHONY: setup demo test lint unit integration clips faults fuzz soak faults-postgresql i18n

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/python -m sim demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Brings the Chinese catalogs in step with the sources (new messages arrive untranslated; the unit
# test test_i18n_catalogs fails until each has its translation). See docs/i18n.md.
i18n: setup
	.venv/bin/python -m scripts.i18n update
	.venv/bin/python -m scripts.i18n check

# Parallel workers (pytest-xdist). Most integration tests wait on real time (cameras, timeouts,
# backoffs), so three workers beat two on a 2-core box; each worker gets its own port range and
# database server (docs/testing.md). Tests sharing a module fixture stay on one worker (loadscope).
JOBS ?= 3
PYTEST = .venv/bin/python -m pytest -q -rs -p no:cacheprovider -n $(JOBS) --dist loadscope

# The whole suite (SQLite for whole-gateway tests, both backends for the store tests), then the faults
# where the storage backend is what is tested again with every gateway on PostgreSQL: the database's
# disk filling, the outbox across uplinks failing and the gateway SIGKILLed while writing. (The camera
# faults go through the same store code on both backends; `make faults-postgresql` runs all of them.)
PG_FAULTS = tests/faults/test_disk_full.py tests/faults/test_uplink_faults.py

# The PostgreSQL leg runs beside the main run, on port ranges of its own (GATEWAY_TEST_PORT_SLOT): its
# tests mostly wait on the database and the uplinks, so it costs the main run little and saves its
# 40 s of wall time. Its output follows the main run's; either failing fails the target.
test: lint
	@mkdir -p var/test
	( GATEWAY_TEST_PORT_SLOT=6 GATEWAY_FAULT_TABLE=var/faults/table-postgresql.md \
	  $(PYTEST) -n 2 --storage=postgresql $(PG_FAULTS) > var/test/postgresql.log 2>&1; \
	  echo $$? > var/test/postgresql.rc ) & \
	$(PYTEST) --durations=20; main=$$?; wait; \
	echo "=== the PostgreSQL leg: $(PG_FAULTS) ==="; cat var/test/postgresql.log; \
	test $$main -eq 0 && test "$$(cat var/test/postgresql.rc)" -eq 0

faults-postgresql: setup
	GATEWAY_FAULT_TABLE=var/faults/table-postgresql.md $(PYTEST) --storage=postgresql tests/faults

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration

clips: setup
	.venv/bin/python samples/make_clips.py

# The fault suite on its own, on SQLite then PostgreSQL; rewrites docs/faults.md and
# docs/faults-postgresql.md with the measured tables.
faults: setup
	GATEWAY_FAULT_TABLE=docs/faults.md $(PYTEST) tests/faults
	GATEWAY_FAULT_TABLE=docs/faults-postgresql.md $(PYTEST) --storage=postgresql tests/faults

# Coverage-guided fuzzing of the network-facing parsers, 120 s per target (see docs/security.md).
fuzz: setup
	.venv/bin/python -m fuzz --seconds 120

# The long soak run (hours, out of CI; see docs/soak.md).
soak: setup
	.venv/bin/python -m scripts.soak --hours 4
