"""Frozen encoder features, computed once per corpus and cached in one safetensors file.

Training never runs an encoder: both encoders are frozen, so their outputs are fixed per clip. The semantic
features are the Whisper encoder's final output in the unpadded mode the composed backend uses at inference
(``speechalign.backends.encode_unpadded``); the paralinguistic features are the output of Whisper block
``paralinguistic_layer`` (0 = before the first block) from the same forward pass, the encoder chosen by the
probe in :mod:`speechalign.sift.paralinguistic`.

File layout (float16, frames of all clips concatenated)::

    semantic        (sum P_i, d)    paralinguistic  (sum P_i, d)    offsets  (N + 1,) int64
    metadata: {"ids": [...], "encoder": ..., "paralinguistic_layer": k, "frame_seconds": 0.02}

    feats = FeatureStore.load("data/sift/features/sift.safetensors")
    sem, para = feats.frames("sift-00001")        # (P, d), (P, d) float32
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from speechalign.errors import UserFacingError
from speechalign.io import atomic_path


@dataclass
class FeatureStore:
    ids: list[str]
    semantic: torch.Tensor  # (sum P, d) float16
    paralinguistic: torch.Tensor  # (sum P, d) float16
    offsets: torch.Tensor  # (N + 1,) int64
    meta: dict

    def __post_init__(self):
        self.index = {utt_id: i for i, utt_id in enumerate(self.ids)}

    def frames(self, utt_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        if utt_id not in self.index:
            raise UserFacingError(
                f"no cached features for {utt_id}; rebuild them with `speechalign features`"
            )
        i = self.index[utt_id]
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.semantic[lo:hi].float(), self.paralinguistic[lo:hi].float()  # (P, d) each

    def save(self, path: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        tensors = {"semantic": self.semantic, "paralinguistic": self.paralinguistic, "offsets": self.offsets}
        metadata = {"ids": json.dumps(self.ids), "meta": json.dumps(self.meta, sort_keys=True)}
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStore:
        from safetensors import safe_open

        if not Path(path).is_file():
            raise UserFacingError(f"{path} is missing; build it with `speechalign features`")
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            tensors = {k: f.get_tensor(k) for k in ("semantic", "paralinguistic", "offsets")}
        return cls(json.loads(metadata["ids"]), **tensors, meta=json.loads(metadata["meta"]))


def load_whisper_encoder(ref: str, device: str | torch.device = "cpu"):
    """(encoder, feature extractor) of a Whisper model reference, frozen, float32, on ``device``."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    from speechalign.models import model_path

    folder = model_path(ref)
    encoder = WhisperModel.from_pretrained(folder, dtype=torch.float32).get_encoder().eval()
    return encoder.requires_grad_(False).to(device), WhisperFeatureExtractor.from_pretrained(folder)


def read_wave(path: str, sample_rate: int = 16000) -> np.ndarray:
    import soundfile as sf

    wave, rate = sf.read(path, dtype="float32", always_2d=False)
    if wave.ndim != 1 or rate != sample_rate:
        raise UserFacingError(f"{path}: expected mono {sample_rate} Hz audio, got {wave.shape} at {rate} Hz")
    return wave


def compute_features(
    utterances: Sequence, encoder, feature_extractor, paralinguistic_layer: int, encoder_name: str
) -> FeatureStore:
    """Semantic and paralinguistic frames of every utterance (one encoder forward each)."""
    from tqdm import tqdm

    from speechalign.sift.paralinguistic import whisper_layer_frames

    n_blocks = len(encoder.layers)
    if not 0 <= paralinguistic_layer <= n_blocks:
        raise UserFacingError(f"paralinguistic_layer must be in 0..{n_blocks}; got {paralinguistic_layer}")
    semantic, para, offsets = [], [], [0]
    for utt in tqdm(utterances, desc="encoder features", unit="utt", mininterval=2):
        layers = whisper_layer_frames(
            encoder, feature_extractor, read_wave(utt.audio_path), [paralinguistic_layer, n_blocks]
        )
        semantic.append(layers[n_blocks].half())  # (P, d)
        para.append(layers[paralinguistic_layer].half())  # (P, d)
        offsets.append(offsets[-1] + len(semantic[-1]))
    meta = {"encoder": encoder_name, "paralinguistic_layer": paralinguistic_layer, "frame_seconds": 0.02}
    return FeatureStore(
        [u.id for u in utterances], torch.cat(semantic), torch.cat(para), torch.tensor(offsets), meta
    )
