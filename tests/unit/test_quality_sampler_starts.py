"""The budget of first quality samples a process's sessions may take at once (gateway/quality/sampler.py)."""

from __future__ import annotations

from gateway.quality.sampler import StartBudget


def test_a_burst_then_the_rate() -> None:
    budget = StartBudget(per_s=4.0, burst=3)
    assert [budget.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert not budget.take(100.2)  # 0.8 of a token back
    assert budget.take(100.3)  # 1.2: one
    assert not budget.take(100.3)
    assert [budget.take(200.0) for _ in range(4)] == [True, True, True, False]  # full again, never past burst
