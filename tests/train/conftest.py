"""The tiny random LM (with SmolLM2's real tokenizer) that tests/train's models and trainings are built on."""

from __future__ import annotations

import pytest
from tiny_sift import tiny_llm


@pytest.fixture(scope="module")
def tiny():
    return tiny_llm()
