"""Task prompts from params (not the ALAS paper's Figure 4 layout: docs/deviations.md#alas) and the chat
rendering the backends share.

params ``backends.prompts`` maps a task to its instruction; ``{question}`` is the utterance's question with
any trailing question mark removed (the template puts it back), so spoken QA reads
``"<question>? Answer in 10-15 words."``. ``backends.layout`` places the speech (audio, or the transcript in
the text run) and the instruction in the user message, identically in both runs:

    >>> task_instruction("sqa", {"sqa": "{question}? Answer in 10-15 words."}, question="Who is Ann?")
    'Who is Ann? Answer in 10-15 words.'
    >>> user_message("{speech}\\n{task}", "<AUDIO>", "Who is Ann? Answer in 10-15 words.")
    '<AUDIO>\\nWho is Ann? Answer in 10-15 words.'
"""

from __future__ import annotations

from collections.abc import Mapping

from speechalign.backends.base import BackendInputError

__all__ = ["SPEECH_MARKER", "chat_prompt", "split_at_marker", "task_instruction", "user_message"]

# Stands where the speech goes while the chat template is rendered; never part of a real prompt.
SPEECH_MARKER = "\x00speechalign-speech\x00"


def task_instruction(task: str, prompts: Mapping[str, str], question: str | None = None) -> str:
    """The instruction of ``task`` (a key of ``prompts``) for one utterance."""
    if task not in prompts:
        raise BackendInputError(f"no prompt for task {task!r}; params backends.prompts has {sorted(prompts)}")
    template = prompts[task]
    if "{question}" in template:
        if not question or not question.strip():
            raise BackendInputError(f"task {task!r} needs a question and the utterance has none")
        return template.format(question=question.strip().rstrip("?").rstrip())
    return template


def user_message(layout: str, speech: str, task: str) -> str:
    return layout.format(speech=speech, task=task)


def chat_prompt(tokenizer, system_prompt: str | None, user: str) -> str:
    """The full prompt up to the assistant's turn, through the tokenizer's chat template.

    ``system_prompt`` is always given explicitly (an empty string gives an empty system turn): templates
    such as SmolLM2's insert their own default system prompt when there is none, which changes answers."""
    messages = [{"role": "system", "content": system_prompt or ""}, {"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def split_at_marker(prompt: str, marker: str = SPEECH_MARKER) -> tuple[str, str]:
    """``prompt`` split around the one occurrence of ``marker``: (before, after)."""
    if prompt.count(marker) != 1:
        raise RuntimeError(
            f"the rendered prompt holds the speech marker {prompt.count(marker)} times, not once"
        )
    before, after = prompt.split(marker)
    return before, after
