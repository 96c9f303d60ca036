"""The three splits the validity stage works on, so nothing is chosen on the data it is reported on.

- ``fit``: the training split minus dev, what the aligned projector is trained on;
- ``dev``: a held-out part of the training split (``validity.dev_share`` of it, at least 2 utterances), where
  the normalisation (and the headline layer) are chosen;
- ``test``: the corpus's test split, where everything is reported.

Dev is drawn by hashing each id with the seed: the same utterances whatever the order of the manifest, and
disjoint from fit by construction.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from speechalign.data.manifest import select_utterances

__all__ = ["SPLITS", "dev_and_fit", "validity_utterances"]

SPLITS = ("fit", "dev", "test")
MIN_DEV = 2  # separation statistics need two utterances


def _id(utterance) -> str:
    return utterance.id


def _hash_order(utterances: Sequence, seed: int) -> list:
    return sorted(utterances, key=lambda u: hashlib.sha256(f"{seed}:{u.id}".encode()).hexdigest())


def dev_and_fit(train: Sequence, share: float, seed: int) -> tuple[list, list]:
    """(dev, fit) from the training utterances, both sorted by id."""
    ordered = _hash_order(train, seed)
    n_dev = min(len(ordered), max(MIN_DEV, math.ceil(share * len(ordered))))
    return sorted(ordered[:n_dev], key=_id), sorted(ordered[n_dev:], key=_id)


def validity_utterances(corpus, split: str, dev_share: float, seed: int, limit: int = 0) -> list:
    """The utterances of ``split`` (``SPLITS``) of a corpus folder, sorted by id; the first ``limit`` (0: all)
    of them."""
    if split not in SPLITS:
        raise ValueError(f"validity split must be one of {SPLITS}; got {split!r}")
    if split == "test":
        chosen = select_utterances(corpus, "test", 0)
    else:
        dev, fit = dev_and_fit(select_utterances(corpus, "train", 0), dev_share, seed)
        chosen = dev if split == "dev" else fit
    return chosen[:limit] if limit else chosen
