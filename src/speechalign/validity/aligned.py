"""The aligned model: a positive control through the real audio path.

A composed model whose projector is trained, cheaply and on the fit split only
(``speechalign.validity.splits``), so that each audio position maps to the LLM's input embedding of the token
being spoken then. The targets come from the corpus's exact word times through
``speechalign.validity.timeline`` (the encoder's own geometry, never ``reference_path`` or the backend's
declared frame rate); the inputs are the real Whisper features, stacked as the backend stacks them. Scored
like any model, it must land far below the uniform path: if it does not, the timing, the spans or the
normalisation are wrong.

    speechalign validity aligned --model composed-untrained \\
        --corpora data/corpora/sqa data/corpora/paralinguistic data/corpora/sift --out data/validity/aligned

Writes ``<out>/projector/`` (a projector folder any composed backend spec can name) and ``<out>/aligned.json``
(data sizes, loss curve, and how often a held-out position's output is closest to its own token).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from speechalign.alas.measure import oracle_word_times, word_char_spans
from speechalign.backends import BackendInputError, Projector, ProjectorConfig
from speechalign.backends.audio import load_wave
from speechalign.validity.timeline import position_centres, spoken_tokens

log = logging.getLogger(__name__)

__all__ = ["PositionData", "position_data", "token_accuracy", "train_aligned"]


@dataclass
class PositionData:
    """Per audio position: the encoder frames it stacks ``(N, stack, d_enc)``, the embedding of the token
    spoken then ``(N, D)``, which utterance it belongs to ``(N,)``, and each utterance's transcript token
    embeddings (for the accuracy diagnostic)."""

    frames: torch.Tensor
    targets: torch.Tensor
    utterance: torch.Tensor
    spoken: torch.Tensor  # (N,) index of the spoken token within its utterance's transcript
    token_embeddings: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.targets)


def utterance_positions(backend, utterance) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frames ``(A, stack, d_enc)``, spoken token index ``(A,)``, transcript token embeddings ``(T, D)``)."""
    wave = load_wave(utterance.audio_path, backend.sample_rate)
    frames = backend.encoder_frames(wave)[0].float().cpu()  # (P, d_enc)
    stack = backend.projector.config.stack
    n_positions = frames.shape[0] // stack
    if n_positions < 1:
        raise BackendInputError("audio shorter than one LM position")
    run = backend.text_run(utterance.text, "")
    start, stop = run.span
    embeddings = run.payload["inputs_embeds"][0, start:stop].float()  # (T, D)
    times, words = oracle_word_times(utterance)
    spoken = spoken_tokens(
        times,
        word_char_spans(utterance.text, words),
        run.token_char_spans,
        position_centres(backend, n_positions),
    )
    stacked = frames[: n_positions * stack].reshape(n_positions, stack, -1)
    return stacked, torch.from_numpy(spoken), embeddings


@torch.no_grad()
def position_data(backend, utterances: Sequence) -> PositionData:
    """Every audio position of ``utterances`` with its target; utterances a backend refuses are skipped
    (logged)."""
    frames, spoken, owner, embeddings = [], [], [], []
    for utt in utterances:
        try:
            f, s, e = utterance_positions(backend, utt)
        except (BackendInputError, ValueError) as err:
            log.warning("%s not used for the aligned projector: %s", utt.id, err)
            continue
        frames.append(f)
        spoken.append(s)
        owner.append(torch.full((len(s),), len(embeddings)))
        embeddings.append(e)
    if not frames:
        raise BackendInputError("no utterance gave aligned-projector training positions")
    spoken_all = torch.cat(spoken)
    owner_all = torch.cat(owner)
    targets = torch.cat([e[s] for e, s in zip(embeddings, spoken, strict=True)])  # (N, D)
    return PositionData(torch.cat(frames), targets, owner_all, spoken_all, embeddings)


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cosine (what ALAS compares) plus the squared error relative to the targets' power (so the LM
    gets embeddings of the right size, not only the right direction)."""
    cosine = nn.functional.cosine_similarity(output, target, dim=-1).mean()
    return 1 - cosine + nn.functional.mse_loss(output, target) / target.pow(2).mean()


def train_aligned(
    data: PositionData, config: ProjectorConfig, steps: int, lr: float, batch_size: int, seed: int
) -> tuple[Projector, list[float]]:
    """A projector trained on ``data`` with Adam (minibatches of positions); returns it and the loss every
    tenth of the steps."""
    projector = Projector.initialised(config, seed=seed).train()
    optimiser = torch.optim.Adam(projector.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for step in range(steps):
        batch = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)
        loss = _loss(projector(data.frames[batch])[:, 0], data.targets[batch])  # (B, 1, D) -> (B, D)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            curve.append(round(float(loss.detach()), 5))
    return projector.eval(), curve


@torch.no_grad()
def token_accuracy(projector: Projector, data: PositionData) -> float:
    """Share of positions whose projected output is most cosine-similar to the token spoken then, among the
    tokens of its own transcript (chance: about 1 / T)."""
    output = projector(data.frames)[:, 0]  # (N, D)
    hits = 0
    for u, embeddings in enumerate(data.token_embeddings):
        mine = data.utterance == u
        sim = nn.functional.normalize(output[mine], dim=-1) @ nn.functional.normalize(embeddings, dim=-1).T
        hits += int((sim.argmax(dim=1) == data.spoken[mine]).sum())
    return hits / max(len(data), 1)


def summary_card(train: PositionData, held_out: PositionData, curve: list[float], projector) -> dict:
    """What ``aligned.json`` records."""
    return {
        "fit_positions": len(train),
        "fit_utterances": len(train.token_embeddings),
        "heldout_positions": len(held_out),
        "heldout_utterances": len(held_out.token_embeddings),
        "loss_curve": curve,
        "token_accuracy_fit": round(token_accuracy(projector, train), 4),
        "token_accuracy_heldout": round(token_accuracy(projector, held_out), 4),
        "chance_heldout": round(float(np.mean([1 / len(e) for e in held_out.token_embeddings])), 4),
    }
