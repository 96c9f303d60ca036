"""Fixtures: tiny random speech LLMs built locally (tiny_models.py). Code-path tests run on these; only
tests marked ``models`` load the real provisioned weights."""

from __future__ import annotations

import pytest
import tiny_models


@pytest.fixture(scope="session")
def tiny_composed():
    return tiny_models.tiny_composed()


@pytest.fixture(scope="session")
def tiny_qwen2_audio():
    return tiny_models.tiny_qwen2_audio()
