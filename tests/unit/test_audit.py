"""The audit log's hash chain: every edit, removal or reordering is found, and where."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from gateway import audit
from gateway.audit import AuditLog, record_config_change
from gateway.config import parse_config
from gateway.storage import schema
from gateway.storage.db import Database

# Tampering is checked in English words (test_messages_language.py checks the Chinese ones).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def db(storage_url: str) -> Database:
    return Database(storage_url).open()


def fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record("alice", "police", audit.LIVE_VIEW_START, f"cam{i}", {"i": i, "名": "门口"}, "10.0.0.5")


def test_an_untouched_log_verifies(db: Database) -> None:
    log = AuditLog(db)
    assert log.verify().ok and log.verify().checked == 0
    fill(log, 5)
    result = log.verify()
    assert result.ok and result.checked == 5 and result.head_seq == 5
    entries = list(log.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[2].detail == {"i": 2, "名": "门口"} and entries[2].source == "10.0.0.5"


def test_an_edited_entry_is_found(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 5)
    with db.engine.begin() as conn:
        conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == 3).values(actor="mallory"))
    result = log.verify()
    assert not result.ok
    assert result.problems == [(3, "entry was changed: its content does not match its hash")]


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 5)
    row = next(e for e in log.entries() if e.seq == 2)
    forged = audit.entry_hash(
        2,
        row.ts,
        "mallory",
        row.role,
        row.action,
        row.target,
        audit.canonical_detail(row.detail),
        row.source,
        row.prev_hash,
    )
    with db.engine.begin() as conn:
        conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == 2).values(actor="mallory", hash=forged))
    result = log.verify()
    assert [seq for seq, _ in result.problems] == [3]
    assert "link to the previous entry is broken" in result.problems[0][1]


def test_a_removed_entry_is_found(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 6)
    with db.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq.in_([3, 4])))
    result = log.verify()
    assert result.problems == [(5, "entries before it are missing (seq 3-4)")]


def test_a_cut_tail_is_found_against_a_kept_head(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 6)
    kept = log.verify()
    head = (kept.head_seq, kept.head_hash)
    assert log.verify(head).ok
    with db.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq >= 5))
    # The shorter chain is consistent in itself; only the head kept outside shows the loss.
    assert log.verify().ok
    result = log.verify(head)
    assert not result.ok and result.problems[0][0] == 6 and "no longer in the log" in result.problems[0][1]


def test_new_entries_after_tampering_still_chain_to_what_is_there(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 3)
    with db.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq == 3))
    fill(log, 1)
    # Removing the last entry and writing again re-uses its number: that cannot be told from the
    # chain, which is why verify prints a head to keep.
    assert log.verify().ok


def test_query_filters_and_counts(db: Database) -> None:
    log = AuditLog(db)
    fill(log, 3)
    log.record("bob", "admin", audit.GRANT_ADD, "alice", {"kind": "camera", "target": "cam1"}, None)
    assert [e.actor for e in log.query(limit=10)] == ["bob", "alice", "alice", "alice"]
    assert log.count(actor="alice") == 3
    assert [e.target for e in log.query(action=audit.GRANT_ADD)] == ["alice"]
    assert log.query(actor="alice", limit=1, offset=1)[0].target == "cam1"
    csv_text = audit.to_csv(log.query(limit=10))
    assert csv_text.splitlines()[0].startswith("seq,time_utc,actor")
    assert "门口" in csv_text


def test_config_changes_are_recorded_once_per_change(db: Database) -> None:
    log = AuditLog(db)
    base = {
        "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1, "key_unit": False}},
        "cameras": [{"id": "a", "name": "A", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}}],
    }
    first = parse_config(base)
    assert record_config_change(log, first) is not None
    assert record_config_change(log, first) is None  # same config at the next start: nothing new
    base["cameras"].append({"id": "b", "name": "B", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}})  # type: ignore[attr-defined]
    entry = record_config_change(log, parse_config(base))
    assert entry is not None
    assert entry.detail["cameras_added"] == ["b"] and entry.detail["cameras_removed"] == []
    assert entry.detail["previous_sha256"] != entry.detail["sha256"]


def test_gateway_audit_verify_reports_where(tmp_path: Path) -> None:
    db_path = tmp_path / "g.db"
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: s, name: S, unit: {name: U, headcount: 1, key_unit: false}}\n"
        f"storage: {{url: 'sqlite:///{db_path}'}}\n"
        "cameras: [{id: a, name: A, source: {rtsp: 'rtsp://127.0.0.1:9/a'}}]\n"
    )
    env_run = [sys.executable, "-m", "gateway.cli"]
    # Changes made at the console are audited too.
    added = subprocess.run(
        [*env_run, "user", "add", "pc", "--role", "police", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    granted = subprocess.run(
        [*env_run, "user", "grant", "pc", "--camera", "a", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    ok = subprocess.run([*env_run, "audit", "verify", "-c", str(config)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "audit log OK: 2 entries checked" in ok.stdout, ok.stdout + ok.stderr
    with Database(f"sqlite:///{db_path}") as db, db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'someone-else' WHERE seq = 2"))
    bad = subprocess.run([*env_run, "audit", "verify", "-c", str(config)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "entry 2: entry was changed" in bad.stdout and "BROKEN" in bad.stdout
    exported = subprocess.run(
        [*env_run, "audit", "export", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert exported.returncode == 0 and "grant_add" in exported.stdout and "user_add" in exported.stdout
