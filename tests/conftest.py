"""Hypothesis in CI draws the same examples on every run (a red CI is never bad luck, and a
rerun reproduces it); a developer's run draws new ones, and its database replays failures."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
