"""Benchmarks: each prints a table with a baseline measured in the same run. Never asserted."""
