"""Benchmarks: quality and speed figures printed by `make bench`; each module exposes `run()`."""
