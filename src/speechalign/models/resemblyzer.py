"""Resemblyzer's speaker LSTM (``Resemblyzer==0.1.4``, a paralinguistic encoder candidate): the network, and
the conversion of its ``pretrained.pt`` (loaded with ``weights_only``) into ``speaker_lstm.safetensors`` when
the models stage provisions it (lock kind ``resemblyzer``)."""

from __future__ import annotations

from pathlib import Path

import torch

from speechalign.errors import UserFacingError


class SpeakerLSTM(torch.nn.Module):
    """Resemblyzer's VoiceEncoder network: 3-layer LSTM(40 -> 256) -> Linear -> ReLU, L2-normalised."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)

    @classmethod
    def from_resemblyzer_weights(cls, path: str | Path) -> SpeakerLSTM:
        """From a provisioned folder (``data/models/resemblyzer``, its ``speaker_lstm.safetensors``), that
        file itself, or Resemblyzer's own ``pretrained.pt``."""
        path = Path(path)
        if path.is_dir():
            path = path / SPEAKER_LSTM_FILE
        if not path.is_file():
            raise UserFacingError(
                f"{path} is missing: provision it with `snakemake --cores 1 data/models/resemblyzer`"
            )
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = speaker_lstm_state(path)
        model = cls()
        model.load_state_dict(state)
        return model.eval()

    def frame_embeddings(self, mels: torch.Tensor) -> torch.Tensor:
        """``mels (B, T, 40)`` -> ``(B, T, 256)``: the embedding read out after every frame."""
        out, _ = self.lstm(mels)
        emb = torch.relu(self.linear(out))
        return emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-8)


SPEAKER_LSTM_FILE = "speaker_lstm.safetensors"


def speaker_lstm_state(pretrained: str | Path) -> dict:
    """The LSTM and linear weights of Resemblyzer's ``pretrained.pt`` (loaded with ``weights_only``)."""
    state = torch.load(str(pretrained), map_location="cpu", weights_only=True)["model_state"]
    return {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}


def convert_resemblyzer(source: Path, out: Path) -> None:
    """Model provisioning (lock kind ``resemblyzer``): ``source/pretrained.pt`` ->
    ``out/speaker_lstm.safetensors``, checked by loading it into the network."""
    from safetensors.torch import save_file

    state = speaker_lstm_state(source / "pretrained.pt")
    SpeakerLSTM().load_state_dict(state)  # the shapes this code expects, or a clear error now
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / SPEAKER_LSTM_FILE))
