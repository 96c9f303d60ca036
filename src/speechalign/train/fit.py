"""SIFT projector training: stage 1 (semantic projector), stage 2 (paralinguistic projector, stage 1 frozen),
and the paper's ablations, one variant at a time, from cached encoder features.

One process or several (accelerate; on CPU it must be told ``cpu=True``, see
docs/facts.md#accelerate-on-the-cpu)::

    speechalign train fit --variant sift_s --targets data/sift/targets \
        --features data/sift/features/sift \
        --out data/sift/models/sift_s --curves results/train/sift_s
    # 2 processes on the CPU:
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 -m speechalign.cli train fit ...

Same result for any process count: every process draws the same global batch from the seed and the step and
takes its shard ``[rank::world]``; each shard's summed token loss is divided by the global batch's response
token count and multiplied by the world size, so DDP's gradient average equals the one-process gradient.

Resume: the trainer state (projectors, Adam moments, step, curve rows) is saved atomically every
``save_every`` steps under ``--state``; a rerun with the same variant and params continues from it and ends
where an uninterrupted run ends (the data order depends on the step only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from speechalign.backends.checkpoint import (
    Projectors,
    SiftModelConfig,
    load_projectors,
    read_checkpoint_config,
    save_checkpoint,
)
from speechalign.backends.composed import dual_tag_ids
from speechalign.env import keep_freed_memory
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, write_json, write_text
from speechalign.train.live import LIVE_DIR, NoLive, open_live
from speechalign.train.model import PromptPieces, SiftSpeechLLM, prompt_pieces

log = logging.getLogger(__name__)
CURVE_FILE = "curve.tsv"
CURVE_COLUMNS = ("step", "train_loss", "val_loss", "lr")


@dataclass
class Example:
    id: str
    mode: str
    split: str
    pieces: PromptPieces

    @property
    def response_tokens(self) -> int:
        return len(self.pieces.response)


@dataclass
class Batch:
    examples: list[Example]
    semantic: list[torch.Tensor]  # (P_i, d)
    paralinguistic: list[torch.Tensor] | None


# --- data ---------------------------------------------------------------------------------------------------
def build_examples(
    targets: Sequence, tokenizer, layout: str, max_length: int, frames_of, stack: int, dual: bool
):
    """Examples with their token pieces, cut as the authors' trainer cuts them: a sequence longer than
    ``max_length`` positions (audio included) keeps its first ``max_length``, i.e. its response is truncated
    and then has no end token (docs/facts.md#azeros-paper-numbers-and-tables). Dropped: empty targets, and
    those whose prompt and audio alone leave no room for a response token. Returns (examples, counts of
    each)."""
    examples, counts = [], {"empty_target": 0, "prompt_over_max_length": 0, "response_truncated": 0}
    slot_extra = sum(len(ids) for ids in dual_tag_ids(tokenizer)) if dual else 0  # the dual placement's tags
    for t in targets:
        if not t.target.strip():
            counts["empty_target"] += 1
            continue
        pieces = prompt_pieces(tokenizer, t.system, t.instruction, layout, t.target, t.truncated)
        audio = (frames_of(t.id) // stack) * (2 if dual else 1) + slot_extra
        room = max_length - (len(pieces.before) + audio + len(pieces.after))
        if room < 1:
            counts["prompt_over_max_length"] += 1
            continue
        if len(pieces.response) > room:
            pieces = replace(pieces, response=pieces.response[:room])
            counts["response_truncated"] += 1
        examples.append(Example(t.id, t.mode, t.split, pieces))
    return examples, counts


def global_batch_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """The examples of global batch ``step``: consecutive draws from a per-epoch permutation seeded by
    (seed, epoch); a function of the step alone, so resumed and multi-process runs see the same order."""
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        perm = _permutation(n, seed, epoch)
        out.append(int(perm[offset]))
    return out


_PERMS: dict[tuple[int, int, int], torch.Tensor] = {}


def _permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    key = (n, seed, epoch)
    if key not in _PERMS:
        _PERMS[key] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return _PERMS[key]


def make_batch(examples: Sequence[Example], store, dual: bool) -> Batch:
    frames = [store.frames(e.id) for e in examples]
    return Batch(list(examples), [s for s, _ in frames], [p for _, p in frames] if dual else None)


# --- loss ---------------------------------------------------------------------------------------------------
def batch_loss_sum(model: SiftSpeechLLM, projectors, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response-token cross-entropy of ``batch`` and its token count (``projectors``: maybe DDP)."""
    sem, para = projectors(batch.semantic, batch.paralinguistic)
    return model.response_losses([e.pieces for e in batch.examples], model.slots(sem, para))


@torch.no_grad()
def validation_loss(
    model: SiftSpeechLLM, examples: Sequence[Example], store, accelerator, batch_size: int
) -> float:
    """Token-weighted mean loss over ``examples``, sharded over processes and summed across them."""
    mine = list(examples)[accelerator.process_index :: accelerator.num_processes]
    total, count = torch.zeros((), device=accelerator.device), torch.zeros((), device=accelerator.device)
    for first in range(0, len(mine), batch_size):
        with accelerator.autocast():
            loss, n = batch_loss_sum(
                model,
                model.projectors,
                make_batch(mine[first : first + batch_size], store, model.config.dual),
            )
        total, count = total + loss, count + n
    total, count = accelerator.reduce(total, "sum"), accelerator.reduce(count.float(), "sum")
    return float(total / count.clamp_min(1))


def learning_rate(step: int, base: float, warmup: int) -> float:
    """Linear warmup over ``warmup`` steps, then constant (AZEROS: Adam, lr 1e-3, warmup 500; the authors'
    code then decays the rate, which we do not: docs/deviations.md)."""
    return base * min(1.0, (step + 1) / max(warmup, 1))


# --- trainer state ------------------------------------------------------------------------------------------
def run_fingerprint(variant: Mapping, params: Mapping, n_train: int) -> str:
    blob = json.dumps({"variant": variant, "params": params, "n_train": n_train}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_state(
    folder: Path, config, projectors: Projectors, optimizer, step: int, rows: list, fingerprint: str
):
    from safetensors.torch import save_file

    state = optimizer.state_dict()
    flat = {
        f"{idx}.{name}": v.detach().cpu().clone().reshape(v.shape or (1,))
        for idx, s in state["state"].items()
        for name, v in s.items()
    }
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        save_checkpoint(tmp / "model", config, projectors, {})
        save_file(flat or {"empty": torch.zeros(1)}, str(tmp / "optimizer.safetensors"))
        trainer = {
            "step": step,
            "rows": rows,
            "fingerprint": fingerprint,
            "param_groups": state["param_groups"],
        }
        (tmp / "trainer.json").write_text(json.dumps(trainer, indent=1) + "\n", encoding="utf-8")


def load_state(folder: Path, config, optimizer, fingerprint: str):
    """(projectors, step, rows) from a saved trainer state, or None when there is none for this run."""
    from safetensors.torch import load_file

    path = folder / "trainer.json"
    if not path.is_file():
        return None
    trainer = json.loads(path.read_text(encoding="utf-8"))
    if trainer["fingerprint"] != fingerprint:
        log.warning("trainer state in %s is for other params; starting over", folder)
        return None
    flat = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, value in flat.items():
        if key == "empty":
            continue
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value.reshape(()) if name == "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": trainer["param_groups"]})
    return load_projectors(folder / "model", config), trainer["step"], trainer["rows"]


# --- the loop -----------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    steps: int
    rows: list[dict]
    projectors: Projectors


def trainable_parameters(projectors: Projectors, train: Sequence[str]):
    names = set(train)
    unknown = names - {"semantic", "paralinguistic"}
    if unknown:
        raise UserFacingError(f"train: unknown projector(s) {sorted(unknown)}; use semantic, paralinguistic")
    if "paralinguistic" in names and projectors.paralinguistic is None:
        raise UserFacingError("a single-encoder variant cannot train a paralinguistic projector")
    for name, module in (("semantic", projectors.semantic), ("paralinguistic", projectors.paralinguistic)):
        if module is not None:
            module.requires_grad_(name in names)
    return [p for p in projectors.parameters() if p.requires_grad]


def train_loop(
    model: SiftSpeechLLM,
    train_examples: Sequence[Example],
    val_examples: Sequence[Example],
    store,
    cfg: Mapping,
    variant: Mapping,
    accelerator,
    state_dir: Path | None,
    stop_after: int | None = None,
    live=None,
) -> TrainResult:
    """Train ``model.projectors`` for ``cfg['steps']`` steps; ``stop_after`` ends early (as an interruption
    would) after saving the state. ``live`` (``speechalign.train.live``) gets each curve row when made."""
    from tqdm import tqdm

    if not train_examples:
        raise UserFacingError("no training examples: build the targets and features first")
    params = trainable_parameters(model.projectors, variant["train"])
    optimizer = torch.optim.Adam(params, lr=cfg["lr"])
    fingerprint = run_fingerprint(variant, cfg, len(train_examples))
    step, rows = 0, []
    if state_dir is not None and (loaded := load_state(state_dir, model.config, optimizer, fingerprint)):
        restored, step, rows = loaded
        model.projectors.load_state_dict(restored.state_dict())
        log.info("resumed at step %d from %s", step, state_dir)
    live = live or NoLive()
    for row in rows:  # the restored curve, so a resumed run's live files hold every step
        live.log(row)
    wrapped = accelerator.prepare(model.projectors)  # DDP when several processes: averages the gradients
    world, rank = accelerator.num_processes, accelerator.process_index
    if cfg["batch_size"] % world:
        raise UserFacingError(
            f"train.batch_size {cfg['batch_size']} must be a multiple of the {world} processes"
        )
    if step == 0:
        rows.append(
            _row(
                0, math.nan, validation_loss(model, val_examples, store, accelerator, cfg["batch_size"]), 0.0
            )
        )
        live.log(rows[-1])
    bar = tqdm(
        total=cfg["steps"],
        initial=step,
        desc=f"train {variant.get('name', '')}",
        disable=not accelerator.is_main_process,
        mininterval=2,
    )
    while step < cfg["steps"]:
        lr = learning_rate(step, cfg["lr"], cfg["warmup"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        chosen = [
            train_examples[i]
            for i in global_batch_indices(step, len(train_examples), cfg["batch_size"], cfg["seed"])
        ]
        global_tokens = sum(e.response_tokens for e in chosen)
        with accelerator.autocast():  # bf16 on GPUs by default (train.dtype); a no-op in float32
            loss_sum, _ = batch_loss_sum(
                model, wrapped, make_batch(chosen[rank::world], store, model.config.dual)
            )
        loss = (
            loss_sum * world / global_tokens
        )  # DDP divides by world: the mean over the global batch's tokens
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        step += 1
        train_loss = float(accelerator.reduce(loss.detach(), "sum")) / world
        val = math.nan
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            val = validation_loss(model, val_examples, store, accelerator, cfg["batch_size"])
        rows.append(_row(step, train_loss, val, lr))
        live.log(rows[-1])
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val:.3f}")
        interrupted = stop_after is not None and step >= stop_after
        if state_dir is not None and (step % cfg["save_every"] == 0 or interrupted):
            if accelerator.is_main_process:
                save_state(state_dir, model.config, model.projectors, optimizer, step, rows, fingerprint)
            accelerator.wait_for_everyone()
        if interrupted:
            break
    bar.close()
    live.close()
    return TrainResult(step, rows, model.projectors)


def _row(step: int, train_loss: float, val_loss: float, lr: float) -> dict:
    return {"step": step, "train_loss": train_loss, "val_loss": val_loss, "lr": lr}


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_curve(folder: str | os.PathLike, rows: Sequence[dict]) -> None:
    """``curve.tsv`` (DVC plots: x=step, y=train_loss/val_loss); empty cells for steps without a value."""
    lines = ["\t".join(CURVE_COLUMNS)] + ["\t".join(_cell(r[c]) for c in CURVE_COLUMNS) for r in rows]
    write_text(Path(folder) / CURVE_FILE, "\n".join(lines) + "\n")


def summarise(rows: Sequence[dict], seconds: float, data_counts: Mapping, n_train: int, n_val: int) -> dict:
    vals = [(r["step"], r["val_loss"]) for r in rows if not math.isnan(r["val_loss"])]
    best = min(vals, key=lambda sv: sv[1]) if vals else (None, None)
    return {
        "val_loss_untrained": vals[0][1] if vals else None,
        "val_loss_final": vals[-1][1] if vals else None,
        "val_loss_best": best[1],
        "best_step": best[0],
        "steps": rows[-1]["step"] if rows else 0,
        "seconds": round(seconds, 1),
        "train_examples": n_train,
        "val_examples": n_val,
        "data": dict(data_counts),  # per mode: examples kept, dropped (and why), responses truncated
    }


def require_speech_system(targets: Sequence, system: str, mode: str) -> None:
    """Training renders each target's speech prompt, which must be the inference one (the backends' system
    prompt); targets written before the ssp writer prompt stopped reaching them must be rebuilt."""
    other = sorted({t.system for t in targets} - {system})
    if other:
        raise UserFacingError(
            f"targets of mode {mode} carry the system prompt {other[0][:60]!r}, not the backends' "
            f"{system[:60]!r} that inference uses: rebuild them with `speechalign sift targets`"
        )


def report_data_counts(data_counts: Mapping[str, Mapping[str, int]]) -> None:
    """Log, per mode, what was kept, dropped and truncated: modes must never see different items silently."""
    for mode, counts in data_counts.items():
        changed = {k: v for k, v in counts.items() if k != "examples" and v}
        (log.warning if changed else log.info)("%s: %d examples %s", mode, counts["examples"], changed or "")


# --- the stage ----------------------------------------------------------------------------------------------
def variant_model_config(
    variant: Mapping, cfg: Mapping, llm, encoder_dim: int, llm_ref: str, encoder_ref: str, para_layer: int
) -> SiftModelConfig:
    return SiftModelConfig(
        llm=llm_ref,
        encoder=encoder_ref,
        paralinguistic_layer=para_layer if variant["encoders"] == "dual" else None,
        encoder_dim=encoder_dim,
        llm_dim=llm.config.hidden_size,
        projector_hidden=cfg["projector_hidden"],
        stack=cfg["stack"],
        layout=cfg["layout"],
    )


def init_from(projectors: Projectors, folder: str | os.PathLike) -> None:
    """Copy the stage-1 checkpoint's semantic projector (stage 2 and the ablations start from it)."""
    stage1 = read_checkpoint_config(folder)
    loaded = load_projectors(folder, stage1)
    projectors.semantic.load_state_dict(loaded.semantic.state_dict())


def make_accelerator(cfg: Mapping):
    """The Accelerator of ``cfg['device']`` and ``cfg['dtype']``: the GPUs (one per process) or the CPU, with
    bf16 autocast when the dtype resolves to bfloat16."""
    from accelerate import Accelerator

    from speechalign.backends.device import resolve_device, training_dtype

    device = resolve_device(cfg.get("device", "auto"))
    bf16 = training_dtype(cfg.get("dtype", "auto"), device) == torch.bfloat16
    # cpu=True on the CPU: without it `accelerate launch --multi_gpu` processes each train alone
    # (docs/facts.md)
    return Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if bf16 else "no")


def run_variant(
    name: str,
    cfg: Mapping,
    targets_dir: str | os.PathLike,
    features_path: str | os.PathLike,
    out: str | os.PathLike,
    curves: str | os.PathLike,
    llm_ref: str,
    encoder_ref: str,
    init: str | os.PathLike | None = None,
    state_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
    llm=None,
    tokenizer=None,
    live: str = "none",
) -> dict:
    """Train one variant of ``cfg['variants']`` and write its checkpoint, curve and metrics, on
    ``cfg['device']`` (auto: the GPUs when torch sees them) in ``cfg['dtype']`` (auto: bf16 autocast on
    GPUs); ``live`` (params ``train.live``) writes the curve under ``<curves>/live`` while it trains."""
    from speechalign.sift.features import FeatureStore
    from speechalign.sift.targets import read_targets
    from speechalign.train.model import load_frozen_llm

    if name not in cfg["variants"]:
        raise UserFacingError(
            f"unknown variant {name!r}; params train.variants has {sorted(cfg['variants'])}"
        )
    variant = {"name": name, **cfg["variants"][name]}
    if variant.get("init") and init is None:
        raise UserFacingError(
            f"variant {name} starts from {variant['init']}: pass its checkpoint with --init"
        )
    keep_freed_memory()  # a step's activations are otherwise page-faulted afresh at every step
    accelerator = make_accelerator(cfg)
    torch.manual_seed(cfg["seed"])
    started = time.perf_counter()
    store = FeatureStore.load(features_path)
    if llm is None:
        llm, tokenizer = load_frozen_llm(llm_ref)
    config = variant_model_config(
        variant, cfg, llm, store.dim, llm_ref, encoder_ref, store.meta["paralinguistic_layer"]
    )
    projectors = Projectors(config, seed=cfg["seed"])
    if init is not None:
        init_from(projectors, init)
    model = SiftSpeechLLM(config, llm.to(accelerator.device), tokenizer, projectors.to(accelerator.device))

    train_ex, val_ex, data_counts = [], [], {}
    for mode in variant["data"]:
        targets = [t for t in read_targets(Path(targets_dir) / f"{mode}.jsonl") if t.id in store.index]
        require_speech_system(targets, cfg["system_prompt"], mode)
        ex, counts = build_examples(
            targets, tokenizer, config.layout, cfg["max_length"], store.n_frames, config.stack, config.dual
        )
        data_counts[mode] = {"examples": len(ex), **counts}
        train_ex += [e for e in ex if e.split == "train"]
        val_ex += [e for e in ex if e.split != "train"][: cfg["val_items"]]  # held-out utterances
    report_data_counts(data_counts)
    result = train_loop(
        model,
        train_ex,
        val_ex,
        store,
        cfg,
        variant,
        accelerator,
        Path(state_dir) if state_dir else None,
        stop_after,
        open_live(live if accelerator.is_main_process else "none", Path(curves) / LIVE_DIR, cfg),
    )
    metrics = summarise(result.rows, time.perf_counter() - started, data_counts, len(train_ex), len(val_ex))
    metrics["processes"] = accelerator.num_processes
    metrics["seed"] = cfg["seed"]
    metrics["device"], metrics["mixed_precision"] = str(accelerator.device), accelerator.mixed_precision
    if accelerator.is_main_process and result.steps >= cfg["steps"]:
        save_checkpoint(out, config, result.projectors, {"variant": variant, "metrics": metrics})
        write_curve(curves, result.rows)
        write_json(Path(curves) / "metrics.json", metrics)
    accelerator.wait_for_everyone()
    return {"metrics": metrics, "rows": result.rows, "projectors": result.projectors}
