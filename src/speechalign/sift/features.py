"""Frozen encoder features, computed once per corpus and cached in one safetensors file.

Training never runs an encoder: both encoders are frozen, so their outputs are fixed per clip. The semantic
features are the Whisper encoder's final output in the unpadded mode the composed backend uses at inference
(``speechalign.backends.encode_unpadded``); the paralinguistic features are the output of Whisper block
``paralinguistic_layer`` (0 = before the first block) from the same forward pass, the encoder chosen by the
probe in :mod:`speechalign.sift.paralinguistic`.

A shard (float16, frames of its clips concatenated)::

    semantic        (sum P_i, d)    paralinguistic  (sum P_i, d)    offsets  (n + 1,) int64
    metadata: {"ids": [...], "meta": {"encoder": ..., "paralinguistic_layer": k, "frame_seconds": 0.02}}

The cache of a corpus is a folder of shards of ``train.feature_shard_size`` utterances each
(``shard-00000.safetensors``, ...) and ``index.json`` (ids per shard, meta), written one shard at a time, so
neither writing nor reading ever holds the whole cache (about 424 GB at the paper's scale) in memory: a
sharded store reads each clip's rows from its shard on demand (memory-mapped). A single ``.safetensors``
file (one shard) loads too.

    feats = FeatureStore.load("data/sift/features/sift")     # a shard folder (or one .safetensors file)
    sem, para = feats.frames("sift-00001")        # (P, d), (P, d) float32
    feats.n_frames("sift-00001"), feats.dim       # P, d
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

    @property
    def dim(self) -> int:
        return int(self.semantic.shape[1])

    def n_frames(self, utt_id: str) -> int:
        i = self.index[utt_id]
        return int(self.offsets[i + 1] - self.offsets[i])

    def frames(self, utt_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        if utt_id not in self.index:
            raise UserFacingError(
                f"no cached features for {utt_id}; rebuild them with `speechalign sift features`"
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
    def load(cls, path: str | os.PathLike) -> FeatureStore | ShardedFeatureStore:
        """A shard folder (read lazily) or a single ``.safetensors`` file (read whole)."""
        from safetensors import safe_open

        if Path(path).is_dir():
            return ShardedFeatureStore(path)
        if not Path(path).is_file():
            raise UserFacingError(f"{path} is missing; build it with `speechalign sift features`")
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            tensors = {k: f.get_tensor(k) for k in ("semantic", "paralinguistic", "offsets")}
        return cls(json.loads(metadata["ids"]), **tensors, meta=json.loads(metadata["meta"]))


SHARD_FILE = "shard-{:05d}.safetensors"
INDEX_FILE = "index.json"


class ShardedFeatureStore:
    """:class:`FeatureStore`'s reading interface (``ids``, ``index``, ``meta``, ``dim``, ``n_frames``,
    ``frames``) over a shard folder; only the offsets are read up front, frames when asked for."""

    def __init__(self, folder: str | os.PathLike):
        from safetensors import safe_open

        self.folder = Path(folder)
        index_path = self.folder / INDEX_FILE
        if not index_path.is_file():
            raise UserFacingError(f"{folder} has no {INDEX_FILE}; rebuild it: `speechalign sift features`")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        self.meta, self.ids, self.dim = index["meta"], [], index["dim"]
        self._where: dict[str, tuple[str, int, int]] = {}  # id -> (shard file, first row, stop row)
        for shard in index["shards"]:
            with safe_open(str(self.folder / shard["file"]), framework="pt") as f:
                offsets = f.get_tensor("offsets").tolist()
            for i, utt_id in enumerate(shard["ids"]):
                self._where[utt_id] = (shard["file"], offsets[i], offsets[i + 1])
            self.ids += shard["ids"]
        self.index = {utt_id: i for i, utt_id in enumerate(self.ids)}

    def n_frames(self, utt_id: str) -> int:
        _, lo, hi = self._locate(utt_id)
        return hi - lo

    def frames(self, utt_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        from safetensors import safe_open

        name, lo, hi = self._locate(utt_id)
        with safe_open(str(self.folder / name), framework="pt") as f:  # memory-mapped: reads rows lo:hi
            return f.get_slice("semantic")[lo:hi].float(), f.get_slice("paralinguistic")[lo:hi].float()

    def _locate(self, utt_id: str) -> tuple[str, int, int]:
        if utt_id not in self._where:
            raise UserFacingError(
                f"no cached features for {utt_id}; rebuild them with `speechalign sift features`"
            )
        return self._where[utt_id]


def write_sharded_features(
    utterances: Sequence,
    encoder,
    feature_extractor,
    paralinguistic_layer: int,
    encoder_name: str,
    folder: str | os.PathLike,
    shard_size: int,
) -> None:
    """Compute and write the cache folder one shard of ``shard_size`` utterances at a time; the folder
    appears whole (one rename) or not at all."""
    from speechalign.io import write_json

    if shard_size < 1:
        raise UserFacingError(f"feature_shard_size must be at least 1; got {shard_size}")
    if not utterances:
        raise UserFacingError("no utterances to encode: check the corpus folder")
    shards, meta, dim = [], None, None
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        for number, first in enumerate(range(0, len(utterances), shard_size)):
            part = list(utterances[first : first + shard_size])
            store = compute_features(part, encoder, feature_extractor, paralinguistic_layer, encoder_name)
            name = SHARD_FILE.format(number)
            store.save(tmp / name)
            shards.append({"file": name, "ids": store.ids})
            meta, dim = store.meta, store.dim
        write_json(tmp / INDEX_FILE, {"shards": shards, "meta": meta, "dim": dim})


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
