"""The aligned projector's data and training on a tiny composed model: each position's target is the embedding
of the token spoken then, and training moves the projected audio onto it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tone, write_utterance

from speechalign.backends import ProjectorConfig
from speechalign.validity.aligned import position_data, token_accuracy, train_aligned


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aligned")
    words = [("the", 0.1, 0.5), ("red", 0.6, 1.0), ("kite", 1.2, 1.9)]
    return [write_utterance(folder, f"u{i}", tone(2.0) * (1 + i), "the red kite", words) for i in range(2)]


def test_targets_are_the_spoken_tokens_embeddings(tiny_composed, utterances):
    data = position_data(tiny_composed, utterances)
    n_positions = 25  # 2 s: 200 mel frames of 10 ms, 100 encoder positions, stacks of 4
    assert len(data) == 2 * n_positions and data.frames.shape[1:] == (4, 16)
    embeddings = data.token_embeddings[0]
    first = data.utterance == 0
    np.testing.assert_array_equal(data.targets[first].numpy(), embeddings[data.spoken[first]].numpy())
    # the spoken token never moves back, and every word of "the red kite" is reached
    spoken = data.spoken[first].numpy()
    assert (np.diff(spoken) >= 0).all() and spoken.max() == len(embeddings) - 1


def test_training_brings_positions_onto_their_tokens(tiny_composed, utterances):
    data = position_data(tiny_composed, utterances)
    config = ProjectorConfig(encoder_dim=16, llm_dim=32, hidden_dim=64, stack=4)
    projector, curve = train_aligned(data, config, steps=300, lr=0.01, batch_size=32, seed=0)
    assert curve[-1] < 0.5 * curve[0]
    chance = 1 / len(data.token_embeddings[0])
    assert token_accuracy(projector, data) > 2 * chance


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds(tiny_composed, utterances):
    data = position_data(tiny_composed, utterances)
    config = ProjectorConfig(encoder_dim=16, llm_dim=32, hidden_dim=64, stack=4)

    def weights(seed):
        projector, curve = train_aligned(data, config, steps=20, lr=0.01, batch_size=8, seed=seed)
        return curve, [p.detach().clone() for p in projector.parameters()]

    (curve, first), (again_curve, again) = weights(0), weights(0)
    assert curve == again_curve
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, weights(1)[1], strict=True))
