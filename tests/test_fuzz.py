"""A short run of ``benchmarks/fuzz.py``: every reader of untrusted input, only the studio's own errors."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import fuzz


def test_a_short_fuzz_run_finds_no_failure() -> None:
    tallies = fuzz.run(list(fuzz.TARGETS), scale=0.25, seconds=30)
    summary = fuzz.report(tallies, 30)
    assert [t.target for t in tallies] == ["yaml", "condition", "data", "bpmn"]
    assert all(t.tried >= 50 for t in tallies), summary
    assert not [sig for t in tallies for sig in t.failures], summary
