"""Where the models run (params ``device``: auto | cpu | cuda) and in which precision (``dtype``: auto |
float32 | bfloat16). One resolution for every stage that loads a model (the composed backend, SIFT targets,
features, training, spoken QA), so a CPU-only machine and a GPU machine run the same DAG unchanged.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_dtype("auto", torch.device("cpu"))
    torch.float32
"""

from __future__ import annotations

import contextlib

import torch

from speechalign.errors import UserFacingError

__all__ = [
    "DEVICES",
    "DTYPES",
    "autocast",
    "cpu_has_bf16_units",
    "resolve_device",
    "resolve_dtype",
    "training_dtype",
]

# /proc/cpuinfo flags of native bf16 arithmetic (x86: AVX512-BF16, AMX-BF16)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16")


def resolve_device(name: str = "auto", cuda_available: bool | None = None) -> torch.device:
    """``auto``: the GPU when torch sees one, else the CPU; ``cuda`` without a GPU is an error (a run that
    asked for a GPU should not crawl on the CPU silently)."""
    if name not in DEVICES:
        raise UserFacingError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "cuda" and not available:
        raise UserFacingError("device: cuda, but torch sees no GPU (a CPU build of torch, or no driver)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and available) else "cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The compute precision: ``auto`` is bfloat16 on a GPU and float32 on the CPU."""
    if name not in DTYPES:
        raise UserFacingError(f"dtype must be one of {', '.join(DTYPES)}; got {name!r}")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def cpu_has_bf16_units(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bf16 natively (the ``flags`` of Linux's /proc/cpuinfo; False where it cannot
    be read). Without such units torch emulates bf16 and a matmul is many times slower than in float32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return not BF16_FLAGS.isdisjoint(flags)


def training_dtype(name: str, device: torch.device, cpu_bf16: bool | None = None) -> torch.dtype:
    """The training precision: ``auto`` is bf16 autocast on a GPU and on a CPU with bf16 units
    (``cpu_has_bf16_units``; about 2x a float32 step there, benchmarks/bench_sift.py), float32 elsewhere."""
    if name == "auto" and device.type == "cpu":
        native = cpu_has_bf16_units() if cpu_bf16 is None else cpu_bf16
        return torch.bfloat16 if native else torch.float32
    return resolve_dtype(name, device)


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16 autocast around a forward pass when ``dtype`` is bfloat16 (the weights stay float32; the
    optimiser updates float32 projectors); nothing otherwise."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
