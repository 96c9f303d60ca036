"""Similarity: orientation, precision, normalisations, scale invariance, bad input."""

import numpy as np
import pytest
import torch

from speechalign.metrics.alas import NORMALISATIONS, register_normalisation, similarity


def naive_cosine(audio: np.ndarray, text: np.ndarray) -> np.ndarray:  # (L, A, D), (L, T, D) -> (L, A, T)
    audio = audio / np.linalg.norm(audio, axis=-1, keepdims=True)
    text = text / np.linalg.norm(text, axis=-1, keepdims=True)
    return np.einsum("lad,ltd->lat", audio, text)


@pytest.fixture
def hidden():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 11, 16)), rng.standard_normal(
        (3, 7, 16)
    )  # audio (L, A, D), text (L, T, D)


@pytest.mark.parametrize("n_audio, n_text", [(11, 7), (7, 11), (5, 5)])
def test_rows_are_audio_and_columns_text_whatever_the_lengths(n_audio, n_text):
    rng = np.random.default_rng(n_audio)
    audio, text = rng.standard_normal((2, n_audio, 8)), rng.standard_normal((2, n_text, 8))
    sim = similarity(audio, text)
    assert sim.shape == (2, n_audio, n_text)
    assert sim.dtype == np.float32 and sim.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(sim, naive_cosine(audio, text), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_low_precision_torch_input_is_accumulated_in_float32(hidden, dtype):
    audio, text = (torch.from_numpy(h).to(dtype) for h in hidden)
    sim = similarity(audio, text)
    assert sim.dtype == np.float32
    # Reference: the same rounded inputs, in float64; float32 accumulation stays within 1e-5 of it.
    np.testing.assert_allclose(sim, naive_cosine(audio.double().numpy(), text.double().numpy()), atol=1e-5)


def test_numpy_float16_input_matches_its_float64_cosine(hidden):
    audio, text = (h.astype(np.float16) for h in hidden)
    np.testing.assert_allclose(
        similarity(audio, text), naive_cosine(audio.astype(np.float64), text.astype(np.float64)), atol=1e-5
    )


def test_fp16_large_values_do_not_overflow():
    # 300^2 * 16 overflows float16 (max 65504) if squared norms were computed in the input dtype.
    audio = torch.full((1, 2, 16), 300.0, dtype=torch.float16)
    text = torch.full((1, 3, 16), -300.0, dtype=torch.float16)
    np.testing.assert_allclose(similarity(audio, text), -np.ones((1, 2, 3)), atol=1e-6)


def test_scaling_any_position_leaves_the_cosine_unchanged(hidden):
    audio, text = hidden
    rng = np.random.default_rng(3)
    scaled_audio = audio * rng.uniform(0.01, 100, size=audio.shape[:2])[..., None]
    np.testing.assert_allclose(similarity(scaled_audio, text * 1e-3), similarity(audio, text), atol=1e-6)


def test_centred_subtracts_each_sequence_mean_per_layer(hidden):
    audio, text = hidden
    expected = naive_cosine(
        audio - audio.mean(axis=1, keepdims=True), text - text.mean(axis=1, keepdims=True)
    )
    np.testing.assert_allclose(similarity(audio, text, "centred"), expected, atol=1e-6)


def test_centred_ignores_a_direction_shared_by_a_whole_run_and_raw_cosine_does_not(hidden):
    audio, text = hidden
    shifted = audio + 10.0 * np.ones(audio.shape[-1])  # one offset added to every audio position
    np.testing.assert_allclose(
        similarity(shifted, text, "centred"), similarity(audio, text, "centred"), atol=1e-5
    )
    assert not np.allclose(similarity(shifted, text), similarity(audio, text), atol=1e-2)


def test_registry_names_both_normalisations_and_refuses_duplicates():
    assert {"cosine", "centred"} <= set(NORMALISATIONS)
    with pytest.raises(ValueError, match="already registered"):
        register_normalisation("cosine")(lambda hidden: hidden)


def test_unknown_normalisation_names_the_registered_ones(hidden):
    with pytest.raises(ValueError, match=r"unknown normalisation 'zscore'.*centred.*cosine"):
        similarity(*hidden, normalisation="zscore")


@pytest.mark.parametrize("role, bad", [("audio", np.nan), ("text", np.inf), ("audio", -np.inf)])
def test_non_finite_hidden_states_name_the_side_layer_and_position(hidden, role, bad):
    audio, text = (h.copy() for h in hidden)
    (audio if role == "audio" else text)[2, 4, 5] = bad
    with pytest.raises(ValueError, match=rf"{role} hidden states contain NaN or inf .*layer 2, position 4"):
        similarity(audio, text)


def test_zero_norm_vector_is_rejected_with_its_location(hidden):
    audio, text = (h.copy() for h in hidden)
    text[1, 3] = 0.0
    with pytest.raises(ValueError, match=r"text hidden state at layer 1, position 3 has zero norm"):
        similarity(audio, text)


def test_centring_a_single_position_explains_the_zero_norm(hidden):
    audio, text = hidden
    with pytest.raises(ValueError, match="centring a sequence of one position"):
        similarity(audio, text[:, :1], "centred")


def test_mismatched_layer_counts_are_rejected(hidden):
    audio, text = hidden
    with pytest.raises(ValueError, match="audio has 3 layers but text has 2"):
        similarity(audio, text[:2])


def test_mismatched_widths_are_rejected(hidden):
    audio, text = hidden
    with pytest.raises(ValueError, match="audio width 16 differs from text width 15"):
        similarity(audio, text[..., :15])


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros((4, 16)), r"must be \(layers, positions, width\)"),
        (np.zeros((3, 0, 16)), "empty axis"),
        ([[[1.0]]], "numpy array or a torch tensor"),
        (np.array([[["a"]]]), "numeric array"),
    ],
)
def test_malformed_audio_is_rejected(hidden, audio, message):
    with pytest.raises(ValueError, match=message):
        similarity(audio, hidden[1])
