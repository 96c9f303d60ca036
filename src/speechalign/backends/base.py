"""The one interface every speech LLM backend implements, and the run it prepares.

A *run* is one chat prompt, tokenised (or embedded) and ready for the LM: the audio run has the audio
positions where the speech goes, the text run has the transcript there instead. Each run knows the exact
half-open index span ``[start, stop)`` of those positions in its own sequence, located from the tokenised
prompt (markers or character offsets), never from fixed counts.

    backend = load_backend(spec, seed=0)                 # speechalign.backends.load_backend
    audio_run = backend.audio_run(wave, task)            # wave: (N,) float32 at backend.sample_rate
    text_run = backend.text_run(transcript, task)
    audio_states = backend.prefill(audio_run)            # (L+1, A, D) float32: embeddings + every block
    text_states = backend.prefill(text_run)              # (L+1, T, D)
    answers = backend.generate([audio_run, text_run], max_new_tokens=48)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from speechalign.errors import UserFacingError

__all__ = ["BackendInputError", "Run", "SpeechLLM", "token_span_of_chars"]


class BackendInputError(UserFacingError):
    """An input a backend cannot take (empty transcript, NaN audio, audio too long or too short).

    Stages catch it per utterance and record the message as the rejection reason."""


@dataclass
class Run:
    """One prepared prompt. ``span`` is ``[start, stop)`` of the audio positions (audio run) or of the
    transcript tokens (text run) in this run's sequence of ``length`` positions.

    ``token_char_spans``: text runs only, ``(T, 2)`` character offsets of each transcript token relative to
    the transcript (what ``speechalign.metrics.alas.reference_path`` takes). ``payload``: backend-specific
    tensors.
    """

    kind: str  # "audio" or "text"
    span: tuple[int, int]
    length: int
    token_char_spans: np.ndarray | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def span_length(self) -> int:
        return self.span[1] - self.span[0]


class SpeechLLM(abc.ABC):
    """A speech LLM as ALAS needs it: two runs per utterance, all-layer prefill, greedy answers."""

    #: seconds per audio position, and the time of the start of audio position 0 (``row_times`` convention)
    frame_seconds: float
    offset_seconds: float
    #: sample rate the waveforms must have
    sample_rate: int = 16000
    #: longest audio the encoder takes, in seconds
    max_audio_seconds: float = 30.0

    @property
    @abc.abstractmethod
    def num_hidden_states(self) -> int:
        """L+1: the embedding output plus one per block (what ``prefill`` returns along axis 0)."""

    @abc.abstractmethod
    def audio_run(self, wave: np.ndarray, task: str) -> Run:
        """The audio prompt: the speech, then ``task``, in the backend's chat template."""

    @abc.abstractmethod
    def text_run(self, transcript: str, task: str) -> Run:
        """The text prompt: the transcript where the speech was, then the same ``task``."""

    @abc.abstractmethod
    def _hidden_states(self, run: Run) -> tuple[torch.Tensor, ...]:
        """One prefill forward: L+1 tensors ``(1, S, D)``."""

    @abc.abstractmethod
    def generate(self, runs: list[Run], max_new_tokens: int, batch_size: int = 8) -> list[str]:
        """Greedy answers, one per run, special tokens stripped."""

    @torch.no_grad()  # not inference_mode: callers may edit the returned tensor in place
    def prefill(self, run: Run) -> torch.Tensor:
        """All layers of one prefill forward, kept only on ``run.span``: ``(L+1, span, D)`` float32 on the CPU
        (whatever device the model runs on).

        Each layer is sliced and copied as soon as the forward returns, so what outlives this call is the
        span only (not every position, and no generated steps)."""
        start, stop = run.span
        states = self._hidden_states(run)  # L+1 x (1, S, D)
        if states[0].shape[1] != run.length:
            raise RuntimeError(f"prefill saw {states[0].shape[1]} positions; the run has {run.length}")
        kept = torch.stack([layer[0, start:stop].float().cpu() for layer in states])  # (L+1, span, D)
        del states
        return kept

    def check_wave(self, wave: np.ndarray) -> np.ndarray:
        """The waveform as ``(N,)`` float32, or a BackendInputError saying why it cannot be used."""
        wave = np.asarray(wave)
        if wave.ndim != 1:
            raise BackendInputError(f"audio must be mono (N,) samples; got shape {wave.shape}")
        if wave.size == 0:
            raise BackendInputError("audio is empty")
        if not np.isfinite(wave).all():
            raise BackendInputError("audio contains NaN or infinity")
        seconds = wave.size / self.sample_rate
        if seconds > self.max_audio_seconds:
            raise BackendInputError(
                f"audio is {seconds:.2f} s, longer than the encoder's {self.max_audio_seconds:g} s"
            )
        return wave.astype(np.float32, copy=False)


def check_transcript(transcript: str) -> str:
    if not transcript or not transcript.strip():
        raise BackendInputError("empty transcript: the text run has nothing to put where the audio was")
    return transcript


def token_span_of_chars(offsets: np.ndarray, start: int, stop: int) -> tuple[tuple[int, int], np.ndarray]:
    """Tokens whose characters overlap ``[start, stop)`` of the tokenised string.

    ``offsets``: ``(S, 2)`` character offsets of every token (a fast tokenizer's ``offset_mapping``;
    special tokens with ``(0, 0)`` never overlap). Returns the token span ``(first, stop)`` and the
    overlapping tokens' offsets clipped to ``[start, stop)`` and made relative to ``start``, ``(T, 2)``.

    >>> offs = np.array([[0, 4], [4, 5], [5, 8], [8, 12], [12, 13]])  # "user" "\\n" "the" " cat" "\\n"
    >>> span, chars = token_span_of_chars(offs, 5, 12)
    >>> span, chars.tolist()
    ((2, 4), [[0, 3], [3, 7]])
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    overlaps = (offsets[:, 0] < stop) & (offsets[:, 1] > start) & (offsets[:, 1] > offsets[:, 0])
    hits = np.flatnonzero(overlaps)
    if hits.size == 0:
        raise BackendInputError(f"no token covers characters [{start}, {stop}) of the prompt")
    first, last = int(hits[0]), int(hits[-1])
    if hits.size != last - first + 1:
        raise RuntimeError("transcript tokens are not contiguous in the prompt")
    chars = np.clip(offsets[first : last + 1], start, stop) - start  # (T, 2)
    return (first, last + 1), chars


def left_pad(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(S_i, D)]`` -> ``(B, S_max, D)`` zero-padded on the left, and the ``(B, S_max)`` attention mask."""
    longest = max(s.shape[0] for s in sequences)
    width = sequences[0].shape[1]
    embeds = sequences[0].new_zeros(len(sequences), longest, width)
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, seq in enumerate(sequences):
        embeds[row, longest - seq.shape[0] :] = seq
        mask[row, longest - seq.shape[0] :] = 1
    return embeds, mask


def length_batches(lengths: Sequence[int], max_items: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices of ``lengths`` in length order, cut into batches of at most ``max_items`` that pad to their
    longest: a batch closes before the item that would make more than ``max_padding`` of its positions padding
    (a benchmark's 30-second passages would otherwise pad its short questions tenfold).

    >>> length_batches([400, 40, 50, 380, 60], max_items=8)
    [[1, 2, 4], [3, 0]]
    """
    batches: list[list[int]] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        batch = batches[-1] if batches else []
        grown = (len(batch) + 1) * lengths[i]  # positions once padded to the new longest
        if not batch or len(batch) == max_items or grown - real - lengths[i] > max_padding * grown:
            batches.append([i])
            real = lengths[i]
        else:
            batch.append(i)
            real += lengths[i]
    return batches


@torch.inference_mode()
def greedy_answers(
    llm, tokenizer, runs: list[Run], max_new_tokens: int, batch_size: int, **generate
) -> list[str]:
    """Greedy answers of runs that carry ``payload["inputs_embeds"] (1, S, D)``, in batches of similar
    lengths (``length_batches``), left-padded; ``generate``: the backend's pad and end token ids."""
    return greedy_answers_scoring(
        llm, tokenizer, runs, [None] * len(runs), max_new_tokens, batch_size, **generate
    )[0]


@torch.inference_mode()
def greedy_answers_scoring(
    llm,
    tokenizer,
    runs: list[Run],
    continuations: Sequence[Sequence[int] | None],
    max_new_tokens: int,
    batch_size: int,
    **generate,
) -> tuple[list[str], list[float | None]]:
    """``greedy_answers``, and the summed NLL of each run's ``continuations[i]`` (token ids; None: none)
    teacher-forced after its prompt, read off the generation's own prefill: one forward serves both."""
    prompts = [run.payload["inputs_embeds"][0] for run in runs]
    tokens, nlls = greedy_tokens_scoring(llm, prompts, continuations, max_new_tokens, batch_size, **generate)
    return [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in tokens], nlls


@torch.inference_mode()
def greedy_tokens_scoring(
    llm,
    prompts: Sequence[torch.Tensor],
    continuations: Sequence[Sequence[int] | None],
    max_new_tokens: int,
    batch_size: int,
    **generate,
) -> tuple[list[list[int]], list[float | None]]:
    """The greedy new token ids after each prompt ``(S_i, D)`` (input embeddings), and the summed NLL of
    ``continuations[i]`` teacher-forced after it, read off the prefill. Prompts are prefilled in batches of
    similar lengths (``length_batches``) and decoded together, up to ``batch_size`` rows at once: a decoding
    step reads every weight once whatever the rows, so one decoding loop for several length batches saves
    most of their steps (on 2 CPU cores, a step of the 135M LM costs about as much for 4 rows as for 18)."""
    tokens: list[list[int]] = [[] for _ in prompts]
    nlls: list[float | None] = [None] * len(prompts)
    device = next(llm.parameters()).device
    for group in decoding_groups(length_batches([len(p) for p in prompts], batch_size), batch_size):
        caches = []
        for chunk in group:
            embeds, mask = left_pad([prompts[i] for i in chunk])
            past, totals = prefill_with_continuations(
                llm, embeds.to(device), mask.to(device), [continuations[i] for i in chunk]
            )
            for i, total in zip(chunk, totals, strict=True):
                nlls[i] = total
            caches.append(past)
        batches = decoding_batches(group, caches, llm.config)
        del caches, past  # merged, the chunks' own caches are garbage: decoding holds one copy
        for rows, past in batches:
            embeds, mask = left_pad([prompts[i] for i in rows])
            out = llm.generate(
                inputs_embeds=embeds.to(device),
                attention_mask=mask.to(device),
                past_key_values=past,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                **generate,
            )  # (B, new): with inputs_embeds only, the new tokens alone
            for i, ids in zip(rows, out.tolist(), strict=True):
                tokens[i] = ids
    return tokens, nlls


def decoding_groups(batches: list[list[int]], max_items: int) -> list[list[list[int]]]:
    """Consecutive ``batches`` packed into groups of at most ``max_items`` rows (a batch never split).

    >>> decoding_groups([[0, 1], [2], [3, 4, 5], [6]], max_items=4)
    [[[0, 1], [2]], [[3, 4, 5], [6]]]
    """
    groups: list[list[list[int]]] = []
    for batch in batches:
        if groups and sum(map(len, groups[-1])) + len(batch) <= max_items:
            groups[-1].append(batch)
        else:
            groups.append([batch])
    return groups


def decoding_batches(chunks: list[list[int]], caches: list, config) -> list[tuple[list[int], Any]]:
    """``(rows, cache)`` to decode from: the prefilled ``chunks``' caches (each of its own longest prompt
    but one) as one cache of all their rows, each left-padded to the longest (padding that the mask hides);
    the chunks as they are when a layer keeps a sliding window (such a cache cannot take padding)."""
    from transformers import DynamicCache

    layers = [list(cache) for cache in caches]  # per chunk, per layer: (keys, values, sliding window)
    if len(caches) == 1 or any(window is not None for chunk in layers for *_, window in chunk):
        return list(zip(chunks, caches, strict=True))
    merged = stacked_states(layers, 0, max(cache.get_seq_length() for cache in caches))
    return [([i for chunk in chunks for i in chunk], DynamicCache(merged, config=config))]


def stacked_states(batches: list[list], start: int, width: int) -> list[list[torch.Tensor]]:
    """Per layer ``[keys, values]`` of several batches' states (per batch, per layer ``(keys, values, ...)``)
    stacked along the batch, each widened to ``start + width`` positions (``widen_states``), layer by layer:
    one layer's padded copies at a time."""
    return [
        [torch.cat(part) for part in zip(*widen_states(layer, start, width), strict=True)]
        for layer in zip(*batches, strict=True)
    ]


def widen_states(states, start: int, width: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer ``(keys, values)`` of ``states`` (``(B, H, S, d)`` each) with zeros inserted after the first
    ``start`` positions, so that ``width`` positions follow them (left padding, after a shared prefix)."""

    def pad(x: torch.Tensor) -> torch.Tensor:  # (B, H, S, d) -> (B, H, start + width, d)
        gap = x.new_zeros(*x.shape[:2], start + width - x.shape[2], x.shape[3])
        return torch.cat([x[:, :, :start], gap, x[:, :, start:]], dim=2)

    return [(pad(k), pad(v)) for k, v, *_ in states]


def prefill_with_continuations(
    llm, embeds: torch.Tensor, mask: torch.Tensor, continuations: Sequence[Sequence[int] | None]
) -> tuple[Any, list[float | None]]:
    """One forward over left-padded prompts ``embeds (B, P, D)`` (``mask (B, P)``) with each continuation's
    tokens after its prompt (right-padded): each continuation's summed NLL, and the key/value cache of the
    prompts' first P - 1 columns, which ``generate`` continues from (it recomputes the last column only,
    with the positions it derives from ``mask``, as these are)."""
    rows, prompt = embeds.shape[0], embeds.shape[1]
    ids = [torch.as_tensor(list(c or []), dtype=torch.long, device=embeds.device) for c in continuations]
    width = max(max(len(c) - 1 for c in ids), 0)  # the last token of a continuation predicts nothing
    tail = embeds.new_zeros(rows, width, embeds.shape[2])
    tail_mask = mask.new_zeros(rows, width)
    for row, c in enumerate(ids):
        if len(c) > 1:
            tail[row, : len(c) - 1] = llm.get_input_embeddings()(c[:-1])
            tail_mask[row, : len(c) - 1] = 1
    full_mask = torch.cat([mask, tail_mask], 1)
    positions = (full_mask.cumsum(-1) - 1).masked_fill(full_mask == 0, 0)  # as generate derives them
    out = llm.get_decoder()(
        inputs_embeds=torch.cat([embeds, tail], 1),
        attention_mask=full_mask,
        position_ids=positions,
        use_cache=True,
    )
    head = llm.get_output_embeddings()
    totals: list[float | None] = []
    for row, c in enumerate(ids):
        if len(c) == 0:
            totals.append(None)
            continue
        predicting = out.last_hidden_state[row, prompt - 1 : prompt - 1 + len(c)]  # (R, D)
        totals.append(float(torch.nn.functional.cross_entropy(head(predicting).float(), c, reduction="sum")))
    cache = out.past_key_values
    cache.crop(-(width + 1))  # keep the prompts' first P - 1 columns
    return cache, totals
