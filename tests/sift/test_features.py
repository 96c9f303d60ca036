"""Cached encoder features: the in-memory store and the sharded cache, read back the same way."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_sift import feature_store

from speechalign.errors import UserFacingError
from speechalign.sift import features as F


def test_feature_store_round_trip_and_missing_id(tmp_path):
    store = feature_store(["a", "b", "c"])
    store.save(tmp_path / "f.safetensors")
    loaded = F.FeatureStore.load(tmp_path / "f.safetensors")
    assert loaded.ids == ["a", "b", "c"] and loaded.meta == store.meta
    for i in store.ids:
        assert all(torch.equal(x, y) for x, y in zip(loaded.frames(i), store.frames(i), strict=True))
    assert loaded.frames("b")[0].shape == (10, 8)
    with pytest.raises(UserFacingError, match="no cached features"):
        loaded.frames("zzz")


def test_sharded_feature_cache_reads_back_every_clip_lazily(tmp_path, monkeypatch):
    """Written a shard at a time (2 utterances each: 3 shards for 5), read back with the same interface as
    the in-memory store; the folder appears only when complete."""
    ids = ["a", "b", "c", "d", "e"]
    whole = feature_store(ids)  # what compute_features would give for all five at once
    calls = []

    def fake_compute(part, *args):
        calls.append([u.id for u in part])
        chosen = [whole.index[u.id] for u in part]
        sem = torch.cat([whole.semantic[whole.offsets[i] : whole.offsets[i + 1]] for i in chosen])
        para = torch.cat([whole.paralinguistic[whole.offsets[i] : whole.offsets[i + 1]] for i in chosen])
        lengths = [whole.n_frames(u.id) for u in part]
        offsets = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist())
        return F.FeatureStore([u.id for u in part], sem, para, offsets, whole.meta)

    monkeypatch.setattr(F, "compute_features", fake_compute)
    utts = [SimpleNamespace(id=i) for i in ids]
    F.write_sharded_features(utts, None, None, 0, "enc", tmp_path / "sift", shard_size=2)
    assert calls == [["a", "b"], ["c", "d"], ["e"]]
    assert sorted(p.name for p in (tmp_path / "sift").iterdir()) == [
        "index.json", "shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors"
    ]  # fmt: skip
    loaded = F.FeatureStore.load(tmp_path / "sift")
    assert isinstance(loaded, F.ShardedFeatureStore)
    assert loaded.ids == ids and loaded.meta == whole.meta and loaded.dim == whole.dim == 8
    for i in ids:
        assert loaded.n_frames(i) == whole.n_frames(i)
        assert all(torch.equal(x, y) for x, y in zip(loaded.frames(i), whole.frames(i), strict=True))
    with pytest.raises(UserFacingError, match="no cached features"):
        loaded.frames("zzz")
    with pytest.raises(UserFacingError, match="no utterances"):
        F.write_sharded_features([], None, None, 0, "enc", tmp_path / "empty", shard_size=2)
    assert not (tmp_path / "empty").exists()
