"""A SIFT checkpoint: the folder a trained composed speech LLM is saved as, and its config.

``sift_model.json`` (:class:`SiftModelConfig`), ``semantic/`` and, for dual-encoder models,
``paralinguistic/`` (projector folders). The training stage writes it (``speechalign.train``); the composed
backend loads it as its ``projector:``; :func:`load_projectors` rebuilds the trainable part from it alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from speechalign.backends.projector import Projector, ProjectorConfig
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path

CONFIG_FILE = "sift_model.json"


@dataclass(frozen=True)
class SiftModelConfig:
    llm: str  # model reference of the frozen LM (``speechalign.models.model_path``)
    encoder: str  # Whisper model reference (the features' encoder)
    paralinguistic_layer: int | None  # Whisper block of the paralinguistic features; None: one encoder
    encoder_dim: int
    llm_dim: int
    projector_hidden: int
    stack: int
    layout: str  # user message with {speech} and {task}, as the backends' ``layout``

    @property
    def dual(self) -> bool:
        return self.paralinguistic_layer is not None

    def projector_config(self) -> ProjectorConfig:
        return ProjectorConfig(self.encoder_dim, self.llm_dim, self.projector_hidden, self.stack)


class Projectors(nn.Module):
    """The trainable part: the semantic projector and, for dual models, the paralinguistic one."""

    def __init__(self, config: SiftModelConfig, seed: int):
        super().__init__()
        self.semantic = Projector.initialised(config.projector_config(), seed=seed)
        self.paralinguistic = (
            Projector.initialised(config.projector_config(), seed=seed + 1) if config.dual else None
        )

    def forward(self, semantic: list[torch.Tensor], paralinguistic: list[torch.Tensor] | None):
        """Per example ``(P_i, d)`` frames (any device; moved to the projectors') -> ``(P_i // stack, D)``
        projections (lists)."""
        device = next(self.semantic.parameters()).device
        sem = [self.semantic(f[None].to(device))[0] for f in semantic]
        if self.paralinguistic is None or paralinguistic is None:
            return sem, None
        return sem, [self.paralinguistic(f[None].to(device))[0] for f in paralinguistic]


def save_checkpoint(
    folder: str | os.PathLike, config: SiftModelConfig, projectors: Projectors, extra: dict
) -> None:
    """``folder`` with the config and the projector folders, written atomically as one unit."""
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        projectors.semantic.save(tmp / "semantic")
        if projectors.paralinguistic is not None:
            projectors.paralinguistic.save(tmp / "paralinguistic")
        (tmp / CONFIG_FILE).write_text(
            json.dumps({**asdict(config), **extra}, indent=2, sort_keys=True) + "\n"
        )


def read_checkpoint_config(folder: str | os.PathLike) -> SiftModelConfig:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise UserFacingError(f"{folder} is not a SIFT checkpoint ({CONFIG_FILE} is missing)")
    raw = json.loads(path.read_text(encoding="utf-8"))
    fields = SiftModelConfig.__dataclass_fields__
    return SiftModelConfig(**{k: v for k, v in raw.items() if k in fields})


def load_projectors(folder: str | os.PathLike, config: SiftModelConfig) -> Projectors:
    projectors = Projectors(config, seed=0)
    projectors.semantic.load_state_dict(Projector.load(Path(folder) / "semantic").state_dict())
    if config.dual:
        projectors.paralinguistic.load_state_dict(
            Projector.load(Path(folder) / "paralinguistic").state_dict()
        )
    return projectors
