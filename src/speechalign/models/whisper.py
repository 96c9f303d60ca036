"""Whisper conversions: CTranslate2 folder -> openai-whisper ``.pt`` -> Hugging Face folder.

The CTranslate2 folder (faster-whisper's format) holds ``model.bin``, ``config.json`` (alignment heads,
suppressed tokens) and ``tokenizer.json``. openai-whisper and whisper-timestamped load the ``.pt``;
transformers loads the HF folder. Weights are copied exactly; only names and fused layouts change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from speechalign.models.ct2 import read_ct2

# Whisper's timestamp tokens: <|0.00|> ... <|30.00|> in steps of 20 ms, right after <|notimestamps|>.
N_TIMESTAMPS = 1501
OPENAI_CHECKPOINT = "openai-whisper.pt"


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return 1 + max(int(m.group(1)) for name in variables if (m := pattern.match(name)))


def _split_fused(weight: np.ndarray, bias: np.ndarray | None, parts: int):
    weights = np.split(weight, parts, axis=0)
    biases = np.split(bias, parts, axis=0) if bias is not None else [None] * parts
    return list(zip(weights, biases, strict=True))


def _linear(sd: dict, name: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    sd[f"{name}.weight"] = weight
    if bias is not None:
        sd[f"{name}.bias"] = bias


def _norm(sd: dict, name: str, v: dict, ct2: str) -> None:
    sd[f"{name}.weight"] = v[f"{ct2}/gamma"]
    sd[f"{name}.bias"] = v[f"{ct2}/beta"]


def _attention(sd: dict, name: str, v: dict, ct2: str, cross: bool) -> None:
    """CTranslate2 fuses q/k/v (self-attention) or k/v (cross-attention); Whisper's key has no bias."""
    if cross:
        _linear(sd, f"{name}.query", v[f"{ct2}/linear_0/weight"], v[f"{ct2}/linear_0/bias"])
        (k, _), (val, val_b) = _split_fused(v[f"{ct2}/linear_1/weight"], v[f"{ct2}/linear_1/bias"], 2)
        _linear(sd, f"{name}.out", v[f"{ct2}/linear_2/weight"], v[f"{ct2}/linear_2/bias"])
    else:
        (q, q_b), (k, _), (val, val_b) = _split_fused(
            v[f"{ct2}/linear_0/weight"], v[f"{ct2}/linear_0/bias"], 3
        )
        _linear(sd, f"{name}.query", q, q_b)
        _linear(sd, f"{name}.out", v[f"{ct2}/linear_1/weight"], v[f"{ct2}/linear_1/bias"])
    _linear(sd, f"{name}.key", k, None)
    _linear(sd, f"{name}.value", val, val_b)


def _block(sd: dict, name: str, v: dict, ct2: str, cross: bool) -> None:
    _norm(sd, f"{name}.attn_ln", v, f"{ct2}/self_attention/layer_norm")
    _attention(sd, f"{name}.attn", v, f"{ct2}/self_attention", cross=False)
    if cross:
        _norm(sd, f"{name}.cross_attn_ln", v, f"{ct2}/attention/layer_norm")
        _attention(sd, f"{name}.cross_attn", v, f"{ct2}/attention", cross=True)
    _norm(sd, f"{name}.mlp_ln", v, f"{ct2}/ffn/layer_norm")
    _linear(sd, f"{name}.mlp.0", v[f"{ct2}/ffn/linear_0/weight"], v[f"{ct2}/ffn/linear_0/bias"])
    _linear(sd, f"{name}.mlp.2", v[f"{ct2}/ffn/linear_1/weight"], v[f"{ct2}/ffn/linear_1/bias"])


def ct2_to_openai(ct2_dir: str | os.PathLike) -> dict:
    """Build an openai-whisper checkpoint dict ({"dims", "model_state_dict", "alignment_heads"})."""
    ct2_dir = Path(ct2_dir)
    spec, v = read_ct2(ct2_dir / "model.bin")
    if spec != "WhisperSpec":
        raise ValueError(f"{ct2_dir}/model.bin holds a {spec}, not a Whisper model")
    config = json.loads((ct2_dir / "config.json").read_text())
    n_audio_layer, n_text_layer = _layer_count(v, "encoder"), _layer_count(v, "decoder")
    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    sd: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(sd, f"encoder.{conv}", v[f"encoder/{conv}/weight"], v[f"encoder/{conv}/bias"])
    sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(n_audio_layer):
        _block(sd, f"encoder.blocks.{i}", v, f"encoder/layer_{i}", cross=False)
    _norm(sd, "encoder.ln_post", v, "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(n_text_layer):
        _block(sd, f"decoder.blocks.{i}", v, f"decoder/layer_{i}", cross=True)
    _norm(sd, "decoder.ln", v, "decoder/layer_norm")
    state = {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in sd.items()}
    return {"dims": dims, "model_state_dict": state, "alignment_heads": config["alignment_heads"]}


def alignment_heads_mask(heads: list[list[int]], n_layer: int, n_head: int) -> torch.Tensor:
    mask = torch.zeros(n_layer, n_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    return mask


def load_openai_whisper(checkpoint: str | os.PathLike, device: str = "cpu"):
    """Load a converted checkpoint with openai-whisper, with the official alignment heads set
    (``whisper.load_model`` on a file would fall back to the last half of the decoder layers)."""
    import whisper

    ckpt = torch.load(checkpoint, map_location=device, weights_only=True)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"])
    dims = model.dims
    mask = alignment_heads_mask(ckpt["alignment_heads"], dims.n_text_layer, dims.n_text_head)
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device)


# --- openai-whisper -> Hugging Face -------------------------------------------------------------------

_HF_BLOCK = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
_HF_TOP = {
    "encoder.conv1": "model.encoder.conv1",
    "encoder.conv2": "model.encoder.conv2",
    "encoder.ln_post": "model.encoder.layer_norm",
    "decoder.ln": "model.decoder.layer_norm",
    "decoder.token_embedding": "model.decoder.embed_tokens",
}


def openai_name_to_hf(name: str) -> str:
    if name == "encoder.positional_embedding":
        return "model.encoder.embed_positions.weight"
    if name == "decoder.positional_embedding":
        return "model.decoder.embed_positions.weight"
    if m := re.match(r"^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$", name):
        side, layer, module, param = m.groups()
        return f"model.{side}.layers.{layer}.{_HF_BLOCK[module]}.{param}"
    module, param = name.rsplit(".", 1)
    return f"{_HF_TOP[module]}.{param}"


def _special_ids(tokenizer_json: dict) -> dict[str, int]:
    return {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}


def openai_to_hf(checkpoint: dict, ct2_dir: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Write a transformers Whisper folder (float32 safetensors, config, generation config, processor)."""
    from tokenizers import AddedToken
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    dims = checkpoint["dims"]
    tok_json = json.loads((ct2_dir / "tokenizer.json").read_text())
    ct2_config = json.loads((ct2_dir / "config.json").read_text())
    ids = _special_ids(tok_json)
    multilingual = dims["n_vocab"] >= 51865
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    no_timestamps = ids["<|notimestamps|>"]
    config = WhisperConfig(
        vocab_size=dims["n_vocab"],
        num_mel_bins=dims["n_mels"],
        encoder_layers=dims["n_audio_layer"],
        encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"],
        decoder_attention_heads=dims["n_text_head"],
        d_model=dims["n_audio_state"],
        encoder_ffn_dim=4 * dims["n_audio_state"],
        decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"],
        max_target_positions=dims["n_text_ctx"],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    state = {openai_name_to_hf(k): t.float() for k, t in checkpoint["model_state_dict"].items()}
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise ValueError(f"Whisper HF conversion: missing {missing}, unexpected {unexpected}")

    languages = {t: i for t, i in ids.items() if i in set(ct2_config["lang_ids"])}
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        no_timestamps_token_id=no_timestamps,
        prev_sot_token_id=ids["<|startofprev|>"],
        max_initial_timestamp_index=50,
        max_length=dims["n_text_ctx"],
        alignment_heads=ct2_config["alignment_heads"],
        is_multilingual=multilingual,
        return_timestamps=False,
    )
    if multilingual:
        generation.lang_to_id = languages
        generation.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}

    tokenizer = WhisperTokenizer(tokenizer_file=str(ct2_dir / "tokenizer.json"))
    # Timestamp tokens must be special tokens: otherwise decoding shifts every time by 2.12 s.
    timestamps = [
        AddedToken(f"<|{i * 0.02:.2f}|>", special=True, normalized=False) for i in range(N_TIMESTAMPS)
    ]
    tokenizer.add_special_tokens(
        {"additional_special_tokens": timestamps}, replace_extra_special_tokens=False
    )
    if len(tokenizer) != dims["n_vocab"]:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens, the model {dims['n_vocab']}")
    extractor = WhisperFeatureExtractor(feature_size=dims["n_mels"])

    model.save_pretrained(out_dir)
    generation.save_pretrained(out_dir)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
