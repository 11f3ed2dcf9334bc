"""Benchmarks: perkbus against the design a team would build instead (issue 5)."""
