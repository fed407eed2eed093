"""Benchmarks of the market: scripts that measure and print, run with ``python -m bench``."""
