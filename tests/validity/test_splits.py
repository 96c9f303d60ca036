"""The validity splits: dev and fit partition the training split, deterministically, dev at least 2."""

from __future__ import annotations

from types import SimpleNamespace

from speechalign.validity.splits import dev_and_fit


def test_dev_and_fit_partition_the_training_split_whatever_the_order():
    train = [SimpleNamespace(id=f"u{i:02d}") for i in range(10)]
    dev, fit = dev_and_fit(train, share=0.25, seed=0)
    assert len(dev) == 3 and len(fit) == 7  # ceil(0.25 * 10)
    assert {u.id for u in dev} | {u.id for u in fit} == {u.id for u in train}
    assert not {u.id for u in dev} & {u.id for u in fit}
    again, _ = dev_and_fit(train[::-1], share=0.25, seed=0)
    assert [u.id for u in again] == [u.id for u in dev] == sorted(u.id for u in dev)
    other, _ = dev_and_fit(train, share=0.25, seed=1)
    assert [u.id for u in other] != [u.id for u in dev]  # the seed draws another dev split
    small_dev, small_fit = dev_and_fit(train[:3], share=0.1, seed=0)
    assert len(small_dev) == 2 and len(small_fit) == 1  # at least 2 in dev
