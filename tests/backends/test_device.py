"""Device and dtype resolution (params ``device`` / ``dtype``) and the autocast they imply."""

from __future__ import annotations

import pytest
import torch

from speechalign.backends.device import (
    autocast,
    cpu_has_bf16_units,
    resolve_device,
    resolve_dtype,
    training_dtype,
)
from speechalign.errors import UserFacingError


def test_device_and_dtype_resolution():
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    with pytest.raises(UserFacingError, match="sees no GPU"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(UserFacingError, match="one of auto, cpu, cuda"):
        resolve_device("gpu")
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(UserFacingError, match="dtype must be"):
        resolve_dtype("fp16", torch.device("cpu"))
    layer = torch.nn.Linear(4, 4)
    with autocast(torch.device("cpu"), torch.float32):
        assert layer(torch.ones(1, 4)).dtype == torch.float32
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16


CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nmodel name\t: x\n"


def test_bf16_units_are_read_from_the_cpu_flags():
    assert cpu_has_bf16_units(CPUINFO.format(extra="avx512_bf16"))
    assert cpu_has_bf16_units(CPUINFO.format(extra="amx_tile amx_bf16"))
    assert not cpu_has_bf16_units(CPUINFO.format(extra="avx512vl"))  # AVX-512 alone emulates bf16
    assert not cpu_has_bf16_units("")


def test_training_precision_is_bf16_only_where_the_hardware_computes_it():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert training_dtype("auto", cpu, cpu_bf16=True) == torch.bfloat16
    assert training_dtype("auto", cpu, cpu_bf16=False) == torch.float32
    assert training_dtype("auto", gpu, cpu_bf16=False) == torch.bfloat16
    assert training_dtype("float32", cpu, cpu_bf16=True) == torch.float32
    assert training_dtype("bfloat16", cpu, cpu_bf16=False) == torch.bfloat16  # asked for: obeyed
    with pytest.raises(UserFacingError, match="dtype must be"):
        training_dtype("fp16", cpu, cpu_bf16=True)
