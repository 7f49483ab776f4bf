"""Helpers shared by the tests: real data, real processes, loopback servers."""
