"""Benchmarks: scripts that print measured numbers (never assertions). `python -m bench --help`."""
