"""Murmur's benchmarks: ``python -m benchmarks --help`` (see README.md)."""
