"""Helpers to run a private redis-server, for the tests, the demo and the benchmarks."""
