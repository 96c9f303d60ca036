"""The projector between a frozen audio encoder and a frozen LM (what SIFT trains).

AZEROS's shape: drop the trailing frames that do not fill a stack, stack ``stack`` consecutive frames, then
Linear -> ReLU -> Linear to the LM width. With Whisper (20 ms frames) and ``stack=4``: 80 ms per LM position.

A checkpoint is a folder with ``projector.safetensors`` and ``projector.json`` (the ``ProjectorConfig``);
loading rebuilds the module from that config, so nothing is repeated in params.

    >>> cfg = ProjectorConfig(encoder_dim=8, llm_dim=6, hidden_dim=16, stack=4)
    >>> Projector.initialised(cfg, seed=0)(torch.zeros(2, 10, 8)).shape  # 10 frames -> 2 positions
    torch.Size([2, 2, 6])
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from speechalign.errors import UserFacingError
from speechalign.io import atomic_path

__all__ = ["Projector", "ProjectorConfig"]

WEIGHTS = "projector.safetensors"
CONFIG = "projector.json"


@dataclass(frozen=True)
class ProjectorConfig:
    encoder_dim: int  # width of one encoder frame
    llm_dim: int  # the LM's hidden size
    hidden_dim: int  # width between the two linear layers
    stack: int = 4  # encoder frames per LM position


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(config.stack * config.encoder_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, config.llm_dim),
        )

    def output_length(self, n_frames: int) -> int:
        return n_frames // self.config.stack

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames (B, F, encoder_dim)`` -> ``(B, F // stack, llm_dim)``."""
        batch, n_frames, width = frames.shape
        kept = self.output_length(n_frames) * self.config.stack
        stacked = frames[:, :kept].reshape(batch, kept // self.config.stack, self.config.stack * width)
        return self.net(stacked)  # (B, F // stack, llm_dim)

    @classmethod
    def initialised(cls, config: ProjectorConfig, seed: int) -> Projector:
        """Fresh weights, the same for the same seed (the untrained control)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config)

    def save(self, folder: str | os.PathLike) -> None:
        """Write the checkpoint folder atomically."""
        from safetensors.torch import save_file

        with atomic_path(folder) as tmp:
            tmp.mkdir(parents=True)
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS))
            (tmp / CONFIG).write_text(json.dumps(asdict(self.config), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Projector:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / WEIGHTS).is_file() or not (folder / CONFIG).is_file():
            raise UserFacingError(f"{folder} is not a projector checkpoint (needs {WEIGHTS} and {CONFIG})")
        config = ProjectorConfig(**json.loads((folder / CONFIG).read_text(encoding="utf-8")))
        projector = cls(config)
        projector.load_state_dict(load_file(str(folder / WEIGHTS)))
        return projector
