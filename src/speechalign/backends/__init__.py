"""Speech LLM backends behind one interface (``SpeechLLM``): two runs per utterance (audio prompt, text
prompt), the exact spans of the audio positions and transcript tokens in each, all-layer prefill kept only on
those spans, greedy answers, and each backend's frame rate and offset.

- ``ComposedSpeechLLM``: frozen Whisper encoder -> ``Projector`` -> frozen causal LM (what SIFT trains);
- ``Qwen2AudioSpeechLLM``: transformers' ``Qwen2AudioForConditionalGeneration`` (the ALAS paper's model).

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
    "load_backend",
    "task_instruction",
    "token_span_of_chars",
    "user_message",
]


def load_backend(spec, seed: int) -> SpeechLLM:
    """The backend a params entry names: ``kind`` is ``composed`` or ``qwen2-audio``."""
    kind = spec["kind"]
    if kind == "composed":
        return ComposedSpeechLLM.from_spec(spec, seed=seed)
    if kind == "qwen2-audio":
        from speechalign.backends.qwen2_audio import Qwen2AudioSpeechLLM

        return Qwen2AudioSpeechLLM.from_spec(spec)
    raise BackendInputError(f"unknown backend kind {kind!r}; known: composed, qwen2-audio")
