"""Benchmark scripts (run on demand; they print numbers and assert nothing)."""
