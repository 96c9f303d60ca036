"""Device and dtype resolution (params ``device`` / ``dtype``) and the autocast they imply."""

from __future__ import annotations

import pytest
import torch

from speechalign.backends.device import autocast, resolve_device, resolve_dtype
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
