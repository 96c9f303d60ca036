"""Resolve a model reference from params (lock entry name, local folder, or hub id) to what loaders take."""

from __future__ import annotations

import os
from pathlib import Path

from speechalign.env import HUB_OFFLINE_VARS
from speechalign.errors import UserFacingError

MODELS_DIR = Path("data/models")


def hub_allowed() -> bool:
    return all(os.environ.get(var, "0") in ("0", "", "false", "False") for var in HUB_OFFLINE_VARS)


def model_path(ref: str, models_dir: str | os.PathLike = MODELS_DIR) -> str:
    """Where to load ``ref`` from.

    - a lock entry name (e.g. ``smollm2-135m-instruct``): its provisioned ``hf/`` folder;
    - an existing local folder: itself;
    - otherwise a hub id (``org/name``), allowed only when the hub is (params ``hub.allow``).
    """
    provisioned = Path(models_dir) / ref / "hf"
    if provisioned.is_dir():
        return str(provisioned)
    if Path(ref).is_dir():
        return str(ref)
    if "/" in ref and not ref.startswith((".", "/")) and hub_allowed():
        return ref
    raise UserFacingError(
        f"model {ref!r} is not provisioned ({provisioned} is missing) and is not a local folder"
        + ("" if hub_allowed() else "; the hub is off (params.yaml hub.allow: false)")
        + ". Run `snakemake --cores all models`, or give a local folder or (with hub.allow) a hub id."
    )
