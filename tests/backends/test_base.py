"""Generation batches: similar lengths together, never more padding than asked for."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from speechalign.backends import base
from speechalign.backends.base import length_batches


def test_the_worked_example():
    assert doctest.testmod(base).failed == 0


def test_short_questions_are_not_padded_to_a_long_passage():
    """Thirty 40-position questions and six 400-position passages: two batches, not one padded tenfold."""
    lengths = [40] * 30 + [400] * 6
    assert length_batches(lengths, max_items=64) == [list(range(30)), list(range(30, 36))]
    assert length_batches(lengths, max_items=64, max_padding=1.0) == [list(range(36))]  # padding allowed
    assert length_batches(lengths, max_items=16)[:2] == [list(range(16)), list(range(16, 30))]


@pytest.mark.parametrize("seed", range(20))
def test_every_index_once_in_length_order_within_the_limits(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 500, size=int(rng.integers(1, 80))).tolist()
    max_items, max_padding = int(rng.integers(1, 20)), float(rng.uniform(0.1, 0.9))
    batches = length_batches(lengths, max_items, max_padding)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)  # length order throughout
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        assert 1 <= len(batch) <= max_items
        assert len(batch) * max(sizes) - sum(sizes) <= max_padding * len(batch) * max(sizes)


def test_no_runs_no_batches():
    assert length_batches([], max_items=8) == []
