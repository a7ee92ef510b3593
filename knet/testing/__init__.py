"""Helpers for tests and benchmarks: real processes on loopback, cleaned up by recorded state."""
