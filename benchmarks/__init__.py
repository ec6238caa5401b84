"""Benchmarks: `make bench` (python -m benchmarks) writes JSON figures; never part of make test."""
