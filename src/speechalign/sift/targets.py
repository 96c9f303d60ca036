"""SIFT training targets: the frozen instruct LLM's own answers, per AZEROS data mode.

A mode fixes what the LLM reads (the *writer prompt*: a system prompt and a user message) and what the speech
LLM will later read (the *speech prompt*: the backends' system prompt and the instruction, with the audio
where the text was):

=========  ===================================================  ===========  ===========  ==============
mode       writer user message                                  writer sys.  instruction  target
=========  ===================================================  ===========  ===========  ==============
tsit_s     (none: no generation)                                -            ASR (drawn)  the transcript
sit_s      ``transcript`` + " " + "Repeat the above content."   backends'    the repeat   LLM output
sift_s     ``transcript``                                       backends'    none         LLM output
sit_sp     ``<audio><meta>M</meta><text>t</text></audio>`` SIT  backends'    SIT          LLM output
sift_sp    ``<audio><meta>M</meta><text>t</text></audio>``      backends'    none         LLM output
sit_ssp    as sit_sp                                            the paper's  SIT          LLM output
sift_ssp   as sift_sp                                           the paper's  none         LLM output
=========  ===================================================  ===========  ===========  ==============

``M`` is ``age: .., gender: .., emotion: ..`` with unknown values dropped; ``t`` is the lower-cased
transcript; SIT is "Describe all information you can hear." (params ``sift.sit_instruction``), joined to the
content by a space as in the paper's examples (its appendix A) and the authors' generation script. tsit_s's
speech prompt carries an ASR instruction drawn per utterance (seeded) from ``sift.asr_instructions``.

The ssp modes' system prompt (params ``sift.virtual_human_prompt``: the paper's, from its appendix A) is
given to the *writer only*: it is what makes their targets information-sparse. The speech prompt of every
mode, the one training and inference render, carries the backends' system prompt (params
``backends.system_prompt``) and no ssp one (the paper's Figure 4 and the authors' trainer have no system turn
for it). ``Target.system`` is that speech-prompt system prompt, ``Target.writer_system`` the writer's. The
system prompt is always explicit: SmolLM2's template would insert its own default when none is given
(docs/facts.md#chat-template-system-prompt); ``speechalign.backends.chat_prompt`` renders every prompt, for
targets, training and inference alike.

Generation is greedy and batched (:func:`generate_greedy`: the shared chat prefix computed once, finished
answers leave their batch; the same tokens as one prompt at a time). A target whose end token never came
within ``max_new_tokens`` is kept with ``truncated: true`` (the truncation marker) and training then gives it
no end-of-sequence token. Finished items go to a resumable cache (:class:`TargetCache`) keyed by model, mode
and writer prompt, so an interrupted run redoes nothing it finished.

    speechalign sift targets --manifest data/corpora/sift --mode sift_s --out data/sift/targets/sift_s.jsonl
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from speechalign.errors import UserFacingError

log = logging.getLogger(__name__)

MODES = ("tsit_s", "sit_s", "sift_s", "sit_sp", "sift_sp", "sit_ssp", "sift_ssp")
# metadata fields in the paper's order, with the Utterance attribute that holds each
META_FIELDS = (("age", "age_group"), ("gender", "gender"), ("emotion", "emotion"))
UNKNOWN = {"", "unknown", "none", "null", "n/a", "unk"}


@dataclass(frozen=True)
class ModeSpec:
    name: str
    generated: bool  # False: the target is the transcript (tsit_s)
    paralinguistic: bool  # the writer sees the metadata block
    instructed: bool  # SIT: an instruction follows the content
    virtual_human: bool  # ssp: the virtual-human system prompt


def mode_spec(mode: str) -> ModeSpec:
    if mode not in MODES:
        raise UserFacingError(f"unknown SIFT mode {mode!r}; known: {', '.join(MODES)}")
    return ModeSpec(
        name=mode,
        generated=mode != "tsit_s",
        paralinguistic=mode.endswith(("_sp", "_ssp")),
        instructed=mode.startswith(("sit_", "tsit_")),
        virtual_human=mode.endswith("_ssp"),
    )


@dataclass(frozen=True)
class Target:
    """One training example: the speech prompt's system prompt and instruction, and the response."""

    id: str
    mode: str
    split: str
    system: str  # the speech prompt's system prompt (training and inference): the backends', every mode
    instruction: str | None  # text after the audio in the user message; None for SIFT modes
    writer_input: str  # the user message the LLM answered (the transcript for tsit_s)
    target: str
    truncated: bool  # the end token never came: training adds no end-of-sequence token
    new_tokens: int
    writer_system: str = ""  # the system prompt the LLM answered under (ssp: the paper's virtual human)


# --- prompts ------------------------------------------------------------------------------------------------
def known(value: str | None) -> str | None:
    if value is None or str(value).strip().lower() in UNKNOWN:
        return None
    return str(value).strip()


def metadata_block(utt) -> str:
    """``age: adult, gender: male, emotion: happy`` in that order; unknown values dropped.

    >>> from types import SimpleNamespace as U
    >>> metadata_block(U(age_group=None, gender="female", emotion="sad"))
    'gender: female, emotion: sad'
    """
    parts = [f"{name}: {v}" for name, attr in META_FIELDS if (v := known(getattr(utt, attr, None)))]
    return ", ".join(parts)


def paralinguistic_text(utt) -> str:
    """``<audio><meta>M</meta><text>transcript in lower case</text></audio>``."""
    return f"<audio><meta>{metadata_block(utt)}</meta><text>{utt.text.strip().lower()}</text></audio>"


def asr_instruction(utt_id: str, instructions: Sequence[str], seed: int) -> str:
    """tsit_s's instruction for one utterance: drawn from the set, the same for the same seed and id."""
    return random.Random(f"{seed}:{utt_id}").choice(list(instructions))


def writer_prompt(utt, mode: str, params: Mapping) -> tuple[str, str | None, str]:
    """``(writer system prompt, instruction, writer user message)`` for one utterance in one mode."""
    spec = mode_spec(mode)
    if not utt.text or not utt.text.strip():
        raise UserFacingError(f"{utt.id}: empty transcript; SIFT targets need one")
    system = params["virtual_human_prompt"] if spec.virtual_human else params["system_prompt"]
    if not spec.generated:
        return system, asr_instruction(utt.id, params["asr_instructions"], params["seed"]), utt.text.strip()
    content = paralinguistic_text(utt) if spec.paralinguistic else utt.text.strip()
    instruction = None
    if spec.instructed:
        instruction = params["sit_instruction"] if spec.paralinguistic else params["repeat_instruction"]
    user = content if instruction is None else f"{content} {instruction}"
    return system, instruction, user


# --- generation ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    text: str
    truncated: bool
    new_tokens: int


def end_token_ids(tokenizer, model) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise UserFacingError(
            "the LLM declares no end token; cannot tell finished targets from truncated ones"
        )
    return ids


def split_generation(new_ids: Sequence[int], ends: set[int], tokenizer) -> Generation:
    """The text up to the first end token; ``truncated`` when none came (then every token is kept)."""
    new_ids = list(new_ids)
    stop = next((i for i, t in enumerate(new_ids) if t in ends), None)
    kept = new_ids if stop is None else new_ids[:stop]
    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Generation(text, stop is None, len(kept))


PREFILL_GROUP = 16  # prompts prefilled together: similar lengths, little padding; decoding takes the batch

# generation settings that make HF's greedy decoding differ from the plain argmax this decoder takes
GREEDY_CHANGERS = ("repetition_penalty", "no_repeat_ngram_size", "min_new_tokens", "bad_words_ids")


def check_plain_greedy(model) -> None:
    """The model's generation config must not change greedy decoding (this decoder takes the plain argmax)."""
    config = model.generation_config
    set_ = [k for k in GREEDY_CHANGERS if getattr(config, k, None) not in (None, 1.0, 0)]
    if set_:
        raise UserFacingError(
            f"the LLM's generation_config sets {set_}: target generation is plain greedy decoding; clear them"
        )


def shared_prefix(encoded: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix every prompt starts with, leaving each prompt at least one token of its own.

    >>> shared_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]])
    [1, 2]
    >>> shared_prefix([[1, 2], [1, 2]])
    [1]
    """
    first = encoded[0]
    n = min(len(e) for e in encoded) - 1
    for e in encoded[1:]:
        n = next((k for k in range(n) if e[k] != first[k]), n)
    return list(first[:n])


def prefill_prefix(model, ids: Sequence[int]) -> list | None:
    """The key/value states of ``ids`` (per layer), computed once for every batch; None for no prefix."""
    import torch

    if not ids:
        return None
    with torch.inference_mode():
        ids = torch.tensor([list(ids)], device=model.device)  # (1, P)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return list(out.past_key_values)


def left_padded(suffixes, start: int, pad_id: int):
    """``ids (B, L)``, ``mask (B, P + L)`` and ``positions (B, L)`` of token lists left-padded to the longest
    after a prefix of ``start`` positions (positions counted without the padding)."""
    import torch

    rows, longest = len(suffixes), max(len(s) for s in suffixes)
    ids = torch.full((rows, longest), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, start + longest), dtype=torch.long)
    mask[:, :start] = 1
    positions = torch.zeros((rows, longest), dtype=torch.long)
    for row, suffix in enumerate(suffixes):
        ids[row, longest - len(suffix) :] = torch.tensor(suffix)
        mask[row, start + longest - len(suffix) :] = 1
        positions[row, longest - len(suffix) :] = torch.arange(start, start + len(suffix))
    return ids, mask, positions


def prefix_cache(model, prefix, rows: int):
    """A fresh cache holding the shared prefix's states for ``rows`` prompts (empty without a prefix)."""
    from transformers import DynamicCache

    if prefix is None:
        return DynamicCache(config=model.config)
    expand = lambda x: x.expand(rows, -1, -1, -1)  # noqa: E731
    return DynamicCache([(expand(k), expand(v)) for k, v, *_ in prefix], config=model.config)


def prefill(model, prefix, start: int, suffixes, pad_id: int, group: int):
    """The prompts' states and next-token logits ``(B, V)``: ``group`` consecutive (similar-length) prompts at
    a time, each group padded to its own longest, then their states widened to the batch's longest and
    stacked, so a batch spanning short and long prompts prefills little padding."""
    import torch
    from transformers import DynamicCache

    from speechalign.backends.base import stacked_states

    width, states, logits = max(len(s) for s in suffixes), [], []
    for first in range(0, len(suffixes), group):
        part = left_padded(suffixes[first : first + group], start, pad_id)
        ids, mask, positions = (t.to(model.device) for t in part)
        cache = prefix_cache(model, prefix, len(ids))
        out = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
            logits_to_keep=1,
        )  # fmt: skip
        logits.append(out.logits[:, -1])
        states.append(list(cache))
    return DynamicCache(stacked_states(states, start, width), config=model.config), torch.cat(logits)


def greedy_batch(model, prefix, start: int, suffixes, max_new_tokens: int, ends: set[int], pad_id: int):
    """New token ids of each prompt ``prefix + suffixes[b]``, greedily: the prompts prefilled after the shared
    prefix's states (:func:`prefill`), the LM head on the last position only, and a row leaves the batch when
    it ends, so finished prompts cost nothing."""
    import torch

    device, rows = model.device, len(suffixes)
    cache, logits = prefill(model, prefix, start, suffixes, pad_id, group=PREFILL_GROUP)
    mask = left_padded(suffixes, start, pad_id)[1].to(device)  # (B, P + L)
    positions = torch.tensor([[start + len(s) - 1] for s in suffixes], device=device)  # (B, 1): the last
    out: list[list[int]] = [[] for _ in range(rows)]
    alive = torch.arange(rows)  # the rows of `out` still generating, in batch order
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)  # (B_alive,)
        for row, token in zip(alive.tolist(), tokens.tolist(), strict=True):
            out[row].append(token)
        going = torch.tensor([t not in ends for t in tokens.tolist()], device=device)
        if step == max_new_tokens - 1 or not going.any():
            break
        if not going.all():
            keep = going.nonzero()[:, 0]
            cache.batch_select_indices(keep)
            alive, mask, tokens, positions = alive[keep.cpu()], mask[keep], tokens[keep], positions[keep]
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
        positions = positions + 1
        logits = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=positions, past_key_values=cache,
            use_cache=True,
        ).logits[:, -1]  # (B_alive, V)  # fmt: skip
    return out


def generate_greedy(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int
) -> list[Generation]:
    """Greedy answers to rendered chat prompts, ``batch_size`` at a time (prompts of similar length share a
    batch). The prompts' shared token prefix (the chat template's system turn) is computed once, and a
    finished answer leaves its batch (:func:`greedy_batch`): the same tokens as ``model.generate`` one prompt
    at a time, at more tokens per second (benchmarks/bench_sift.py). One Generation per prompt, in order."""
    import torch

    if max_new_tokens < 1 or batch_size < 1:
        raise UserFacingError("max_new_tokens and batch_size must be at least 1")
    if not prompts:
        return []
    check_plain_greedy(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ends = end_token_ids(tokenizer, model)
    encoded = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    shared = shared_prefix(encoded)
    prefix = prefill_prefix(model, shared)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[Generation | None] = [None] * len(prompts)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            suffixes = [encoded[i][len(shared) :] for i in chunk]
            new = greedy_batch(model, prefix, len(shared), suffixes, max_new_tokens, ends, pad_id)
            for i, ids in zip(chunk, new, strict=True):
                results[i] = split_generation(ids, ends, tokenizer)
    return results  # type: ignore[return-value]


# --- cache --------------------------------------------------------------------------------------------------
def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """Identifies the writer: its config and the names and sizes of its weight files (no hashing of GBs)."""
    folder = Path(model_dir)
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".json", ".safetensors", ".bin", ".model", ".txt"):
                digest.update(f"{path.name}:{path.stat().st_size}".encode())
                if path.name in ("config.json", "generation_config.json", "tokenizer_config.json"):
                    digest.update(path.read_bytes())
    else:
        digest.update(str(model_dir).encode())  # a hub id
    return digest.hexdigest()[:16]


def cache_key(model: str, mode: str, system: str, user: str, max_new_tokens: int) -> str:
    blob = json.dumps([model, mode, system, user, max_new_tokens], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class TargetCache:
    """Append-only jsonl of finished generations: one line per item, each written with one ``write`` on an
    ``O_APPEND`` descriptor and fsynced per batch. A line torn by a crash fails to parse and is ignored (and a
    newline is written before the next record, so it never glues onto a good one)."""

    def __init__(self, path: str | os.PathLike, read_also: Sequence[str | os.PathLike] = ()):
        """``read_also``: other caches whose entries count as done (read only; new entries go to ``path``)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.entries: dict[str, dict] = {}
        self.torn_lines = 0
        for source in [*read_also, self.path]:
            self._read(Path(source))

    def _read(self, path: Path) -> None:
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                self.entries[entry["key"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                self.torn_lines += 1

    def absorb(self, other: str | os.PathLike) -> int:
        """Append the entries of another cache file (a process's shard) that this one lacks, then delete that
        file; returns how many were new. Appended before the delete, so a crash in between loses nothing."""
        shard = TargetCache(other)
        new = [e for k, e in shard.entries.items() if k not in self.entries]
        self.add_many(new)
        Path(other).unlink()
        return len(new)

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def add_many(self, entries: Iterable[dict]) -> None:
        entries = list(entries)
        if not entries:
            return
        blob = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self.path.read_bytes().endswith(b"\n"):
                blob = "\n" + blob  # isolate a torn last line
            os.write(fd, blob.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        for e in entries:
            self.entries[e["key"]] = e


# --- the stage ----------------------------------------------------------------------------------------------
def shard_cache_path(cache: str | os.PathLike, rank: int, processes: int) -> Path:
    """Process ``rank``'s own cache beside the shared one (no two processes append to one file)."""
    cache = Path(cache)
    return cache.with_name(f"{cache.name}.rank{rank}-of-{processes}")


def merged_cache(cache: str | os.PathLike) -> TargetCache:
    """The shared cache with every process shard beside it absorbed (this run's, or a crashed run's)."""
    merged = TargetCache(cache)
    for shard in sorted(Path(cache).parent.glob(f"{Path(cache).name}.rank*-of-*")):
        merged.absorb(shard)
    return merged


def _prompts_and_keys(utterances: Sequence, mode: str, params: Mapping, model_id: str):
    prompts = [writer_prompt(u, mode, params) for u in utterances]
    keys = [cache_key(model_id, mode, system, user, params["max_new_tokens"]) for system, _, user in prompts]
    return prompts, keys


def _generate(prompts, keys, todo, writer, cache, chunk, desc, progress) -> dict[str, dict]:
    """Generate the items ``todo`` (indices) in chunks, each chunk appended to ``cache`` once finished."""
    from tqdm import tqdm

    done: dict[str, dict] = {}
    bar = tqdm(total=len(todo), desc=desc, unit="utt", disable=not progress, mininterval=2)
    for first in range(0, len(todo), chunk):
        part = todo[first : first + chunk]
        gens = writer([(prompts[i][0], prompts[i][2]) for i in part])
        entries = [{"key": keys[i], **asdict(g)} for i, g in zip(part, gens, strict=True)]
        if cache is not None:
            cache.add_many(entries)
        done.update({e["key"]: e for e in entries})
        bar.update(len(part))
    bar.close()
    return done


def generate_shard(
    utterances: Sequence,
    mode: str,
    params: Mapping,
    writer: Callable[[list[tuple[str, str]]], list[Generation]],
    model_id: str,
    cache: TargetCache,
    rank: int,
    processes: int,
    chunk: int = 64,
    progress: bool = True,
) -> int:
    """One of ``processes`` target writers: generate the uncached items ``i`` with ``i % processes == rank``
    into ``cache`` (the process's own); returns how many it generated. :func:`make_targets` on the merged
    caches then assembles the targets (and writes any item a crashed process left out)."""
    if not mode_spec(mode).generated:
        return 0
    prompts, keys = _prompts_and_keys(utterances, mode, params, model_id)
    todo = [i for i in range(rank, len(keys), processes) if keys[i] not in cache]
    _generate(prompts, keys, todo, writer, cache, chunk, f"targets {mode} [{rank}/{processes}]", progress)
    return len(todo)


def make_targets(
    utterances: Sequence,
    mode: str,
    params: Mapping,
    writer: Callable[[list[tuple[str, str]]], list[Generation]] | None,
    model_id: str,
    cache: TargetCache | None = None,
    chunk: int = 64,
    progress: bool = True,
) -> list[Target]:
    """Targets for ``utterances`` in ``mode``. ``writer`` answers a list of ``(system, user)`` prompts (the
    frozen LLM; unused for tsit_s); finished answers go to ``cache`` every ``chunk`` items."""
    spec = mode_spec(mode)
    prompts, keys = _prompts_and_keys(utterances, mode, params, model_id)
    done_now: dict[str, dict] = {}
    if spec.generated:
        if writer is None:
            raise UserFacingError(f"mode {mode} needs the LLM to write its targets")
        todo = [i for i, k in enumerate(keys) if cache is None or k not in cache]
        done_now = _generate(prompts, keys, todo, writer, cache, chunk, f"targets {mode}", progress)
        if cache is not None:
            log.info("%s: %d from the cache, %d generated", mode, len(keys) - len(todo), len(todo))
    targets = []
    for utt, (writer_system, instruction, user), key in zip(utterances, prompts, keys, strict=True):
        if spec.generated:
            g = done_now.get(key) or cache.get(key)  # type: ignore[union-attr]
            text, truncated, n = g["text"], g["truncated"], g["new_tokens"]
        else:
            text, truncated, n = utt.text.strip(), False, 0
        system = params["system_prompt"]  # the speech prompt's: never the writer's ssp one
        targets.append(
            Target(utt.id, mode, utt.split, system, instruction, user, text, truncated, n, writer_system)
        )
    return targets


def writer_id(ref: str, folder: str | os.PathLike) -> str:
    """The writer's identity in cache keys: its reference and the fingerprint of its folder (no loading)."""
    return f"{ref}@{model_fingerprint(folder)}"


def lazy_writer(load: Callable[[], Callable[[list[tuple[str, str]]], list[Generation]]]):
    """A ``writer`` that calls ``load()`` (which loads the LLM) on its first use only, so a run whose every
    target is cached never loads the model."""
    loaded = []

    def write(pairs: list[tuple[str, str]]) -> list[Generation]:
        if not loaded:
            loaded.append(load())
        return loaded[0](pairs)

    return write


def llm_writer(model, tokenizer, max_new_tokens: int, batch_size: int):
    """A ``writer`` for :func:`make_targets`: each ``(system, user)`` through the shared chat template; the
    process keeps freed memory for reuse (``speechalign.env.keep_freed_memory``: a large batch's growing KV
    cache is otherwise page-faulted afresh at every step)."""
    from speechalign.backends import chat_prompt
    from speechalign.env import keep_freed_memory

    keep_freed_memory()

    def write(pairs: list[tuple[str, str]]) -> list[Generation]:
        prompts = [chat_prompt(tokenizer, system, user) for system, user in pairs]
        return generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size)

    return write


def select_utterances(utterances: Sequence, limit: int | None, limit_heldout: int | None) -> list:
    """The first ``limit`` training utterances and the first ``limit_heldout`` others (None: all), in order.

    >>> from types import SimpleNamespace as U
    >>> [u.id for u in select_utterances([U(id=i, split=s) for i, s in enumerate("ttdtt")], 2, 1)]
    [0, 1, 2]
    """
    kept, train, heldout = [], 0, 0
    for u in utterances:
        if u.split == "train" and (limit is None or train < limit):
            kept.append(u)
            train += 1
        elif u.split != "train" and (limit_heldout is None or heldout < limit_heldout):
            kept.append(u)
            heldout += 1
    return kept


def write_targets(path: str | os.PathLike, targets: Sequence[Target]) -> None:
    from speechalign.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for t in targets:
            f.write(json.dumps(asdict(t), ensure_ascii=False, sort_keys=True) + "\n")


def read_targets(path: str | os.PathLike) -> list[Target]:
    path = Path(path)
    if not path.is_file():
        raise UserFacingError(f"{path} is missing; build it with `speechalign sift targets`")
    return [
        Target(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def summary(targets: Sequence[Target]) -> dict:
    n = len(targets)
    return {
        "targets": n,
        "truncated": sum(t.truncated for t in targets),
        "empty": sum(not t.target for t in targets),
        "mean_new_tokens": round(sum(t.new_tokens for t in targets) / max(n, 1), 2),
        "splits": {s: sum(t.split == s for t in targets) for s in sorted({t.split for t in targets})},
    }
