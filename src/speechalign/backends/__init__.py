"""Speech LLM backends behind one interface (``SpeechLLM``): two runs per utterance (audio prompt, text
prompt), the exact spans of the audio positions and transcript tokens in each, all-layer prefill kept only on
those spans, greedy answers, and each backend's frame rate and offset.

- ``ComposedSpeechLLM``: frozen Whisper encoder -> ``Projector`` -> frozen causal LM (what SIFT trains);
- ``Qwen2AudioSpeechLLM``: transformers' ``Qwen2AudioForConditionalGeneration`` (the ALAS paper's model);
- ``SalmonnSpeechLLM``: Whisper + BEATs -> window-level Q-Former (0.34 s per position) -> Vicuna with LoRA
  (the ALAS paper's second model).

``load_backend(spec, seed)`` builds one from a params entry of ``backends.models``.
"""

from speechalign.backends.base import BackendInputError, Run, SpeechLLM, token_span_of_chars
from speechalign.backends.composed import ComposedSpeechLLM, encode_unpadded
from speechalign.backends.projector import Projector, ProjectorConfig
from speechalign.backends.prompts import chat_prompt, task_instruction, user_message

__all__ = [
    "BackendInputError",
    "ComposedSpeechLLM",
    "Projector",
    "ProjectorConfig",
    "Run",
    "SpeechLLM",
    "chat_prompt",
    "encode_unpadded",
    "backend_spec",
    "load_backend",
    "load_named_backend",
    "task_instruction",
    "token_span_of_chars",
    "user_message",
]


def load_backend(spec, seed: int) -> SpeechLLM:
    """The backend a params entry names: ``kind`` is ``composed``, ``qwen2-audio`` or ``salmonn``."""
    kind = spec["kind"]
    if kind == "composed":
        return ComposedSpeechLLM.from_spec(spec, seed=seed)
    if kind == "qwen2-audio":
        from speechalign.backends.qwen2_audio import Qwen2AudioSpeechLLM

        return Qwen2AudioSpeechLLM.from_spec(spec)
    if kind == "salmonn":
        from speechalign.backends.salmonn import SalmonnSpeechLLM

        return SalmonnSpeechLLM.from_spec(spec, seed=seed)
    raise BackendInputError(f"unknown backend kind {kind!r}; known: composed, qwen2-audio, salmonn")


def backend_spec(backends, model: str) -> dict:
    """Entry ``model`` of params ``backends.models`` with the shared chat settings (system prompt, layout)."""
    from speechalign.errors import UserFacingError

    if model not in backends["models"]:
        raise UserFacingError(
            f"unknown model {model!r}; params backends.models has {sorted(backends['models'])}"
        )
    return {"system_prompt": backends["system_prompt"], "layout": backends["layout"]} | backends["models"][
        model
    ]


def load_named_backend(backends, model: str, seed: int) -> SpeechLLM:
    """The backend of entry ``model`` of params ``backends.models``, built after seeding torch with ``seed``
    (an untrained projector's weights depend on it)."""
    import torch

    torch.manual_seed(seed)
    return load_backend(backend_spec(backends, model), seed=seed)
