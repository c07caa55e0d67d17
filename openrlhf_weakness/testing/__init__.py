"""Helpers for tests, the doctor and the CPU recipes: tiny models and toy data built offline."""
