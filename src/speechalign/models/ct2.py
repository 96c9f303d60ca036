"""Read a CTranslate2 ``model.bin`` (binary format version 6) into numpy arrays.

Layout (little endian): u32 version, string spec name, u32 revision, u32 n; then n variables
(string name, u8 rank, u32 dims[rank], u8 dtype id, u32 nbytes, raw data); then u32 n aliases
(string alias, string target). A string is u16 length (including a trailing NUL) then the bytes.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import numpy as np

# Order of CTranslate2's DataType enum.
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16, not expected here
SUPPORTED_VERSIONS = (5, 6)


class CT2FormatError(ValueError):
    pass


def _unpack(f: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise CT2FormatError(f"unexpected end of file at byte {f.tell()} (truncated model.bin?)")
    return struct.unpack("<" + fmt, raw)[0]


def _string(f: BinaryIO) -> str:
    length = _unpack(f, "H")
    return f.read(length)[:-1].decode("utf-8")


def read_ct2(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """Return (spec name, {variable name: array}) with aliases resolved to their targets."""
    variables: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        version = _unpack(f, "I")
        if version not in SUPPORTED_VERSIONS:
            raise CT2FormatError(f"{path}: binary version {version}, expected one of {SUPPORTED_VERSIONS}")
        spec = _string(f)
        _unpack(f, "I")  # spec revision
        for _ in range(_unpack(f, "I")):
            name = _string(f)
            shape = tuple(_unpack(f, "I") for _ in range(_unpack(f, "B")))
            type_id = _unpack(f, "B")
            nbytes = _unpack(f, "I")
            dtype = _DTYPES[type_id] if type_id < len(_DTYPES) else None
            if dtype is None:
                raise CT2FormatError(f"{path}: {name}: unsupported dtype id {type_id}")
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise CT2FormatError(f"{path}: {name}: truncated data ({len(data)} of {nbytes} bytes)")
            variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        for _ in range(_unpack(f, "I")):
            alias, target = _string(f), _string(f)
            variables[alias] = variables[target]
    return spec, variables
