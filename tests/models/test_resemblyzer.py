"""Lock kind ``resemblyzer``: Resemblyzer's speaker LSTM provisioned as safetensors."""

from __future__ import annotations

import pytest
import torch
from wheels import build_wheel

from speechalign.errors import UserFacingError
from speechalign.models.lock import LockedModel
from speechalign.models.provision import provision
from speechalign.models.resemblyzer import SpeakerLSTM


def test_resemblyzer_lock_kind_provisions_the_speaker_lstm_as_safetensors(tmp_path):
    """A wheel laid out like Resemblyzer==0.1.4's (random weights of the real shapes) provisions into
    speaker_lstm.safetensors, which loads into the probe's network and gives the same embeddings."""
    torch.manual_seed(0)
    original = SpeakerLSTM()
    state = {f"{k}": v for k, v in original.state_dict().items()} | {"similarity_weight": torch.ones(1)}
    pretrained = tmp_path / "pretrained.pt"
    torch.save({"model_state": state, "step": 1}, pretrained)
    wheel = build_wheel(
        tmp_path / "index", "Resemblyzer", "0.1.4", {"resemblyzer/pretrained.pt": pretrained.read_bytes()}
    )
    model = LockedModel(
        "resemblyzer", "resemblyzer", "", (wheel,), {"pretrained.pt": ("resemblyzer/pretrained.pt",)}
    )
    out = provision(
        model, tmp_path / "models" / "resemblyzer", tmp_path / "cache", find_links=str(tmp_path / "index")
    )
    assert (out / "speaker_lstm.safetensors").is_file() and (out / "provenance.json").is_file()
    mels = torch.randn(1, 20, 40)
    for source in (out, pretrained):  # the provisioned folder and the original file load the same network
        loaded = SpeakerLSTM.from_resemblyzer_weights(source)
        torch.testing.assert_close(loaded.frame_embeddings(mels), original.frame_embeddings(mels))
    with pytest.raises(UserFacingError, match="is missing"):
        SpeakerLSTM.from_resemblyzer_weights(tmp_path / "nowhere")
