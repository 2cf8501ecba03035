"""Hypothesis profiles: ``dev`` (the default) and ``ci``, chosen by ``HYPOTHESIS_PROFILE``."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100)
# CI: fewer examples, no per-example deadline (shared runners are noisy), and the same
# examples on every run so a red build is reproducible.
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
