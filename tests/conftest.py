"""Shared pytest configuration."""

from __future__ import annotations

from hypothesis import settings

# Deterministic property tests in CI (no flaky shrink timing on a loaded 2-core machine).
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200)
settings.load_profile("ci")
