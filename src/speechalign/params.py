"""The one configuration: ``params.yaml``, overlaid by ``params/<profile>.yaml``, then by explicit
overrides (Snakemake's ``--config``), validated against ``workflow/schemas/params.schema.yaml``; and the one
way a stage's command reads its sections (``--<section>-params JSON`` from its rule, else params.yaml).

    >>> params = load_params(".")                      # doctest: +SKIP
    >>> params = load_params(".", {"profile": "small"}) # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PARAMS_FILE = "params.yaml"
PROFILE_DIR = "params"
SCHEMA_FILE = "workflow/schemas/params.schema.yaml"


class ParamsError(ValueError):
    """A parameter file is missing, malformed or violates the schema; the message names the key."""


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``overlay``; mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def validate(params: Mapping[str, Any], schema: Mapping[str, Any], source: str = "params") -> None:
    """Raise ParamsError naming the first offending key (as a dotted path) if ``params`` breaks ``schema``."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{'.'.join(map(str, e.absolute_path)) or '<top level>'}: {e.message}" for e in errors]
        raise ParamsError(f"{source} is invalid:\n  " + "\n  ".join(lines))


def load_params(root: str | os.PathLike = ".", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load params.yaml under ``root``, apply the profile overlay it (or ``overrides``) names, then
    ``overrides``; validate the result. The profile chosen is kept in ``params["profile"]``."""
    root = Path(root)
    overrides = dict(overrides or {})
    base = read_yaml(root / PARAMS_FILE)
    profile = overrides.get("profile", base.get("profile"))
    if not isinstance(profile, str) or not profile:
        raise ParamsError(f"{PARAMS_FILE}: profile: expected a profile name (a file in {PROFILE_DIR}/)")
    overlay_path = root / PROFILE_DIR / f"{profile}.yaml"
    if not overlay_path.is_file():
        known = sorted(p.stem for p in (root / PROFILE_DIR).glob("*.yaml"))
        raise ParamsError(f"profile: unknown profile {profile!r}; known profiles: {', '.join(known)}")
    params = deep_merge(deep_merge(base, read_yaml(overlay_path)), overrides)
    validate(params, read_yaml(root / SCHEMA_FILE), source=f"params (profile {profile})")
    return params


def add_section_options(parser: argparse.ArgumentParser, *sections: str) -> None:
    """``--<section>-params JSON`` for each section a command reads (its rule passes the resolved values)."""
    for section in sections:
        parser.add_argument(
            f"--{section}-params",
            metavar="JSON",
            help=f"the '{section}' section of the resolved params as JSON (rules pass it); "
            "default: params.yaml and its profile in the current folder",
        )


def section(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Params section ``name``: the JSON its rule passed with ``--<name>-params``, else params.yaml's."""
    given = getattr(args, f"{name.replace('-', '_')}_params", None)
    return json.loads(given) if given else load_params(".")[name]


def top_level(args: argparse.Namespace, key: str) -> Any:
    """A top-level param (e.g. ``seed``): the command's ``--<key>`` when given, else params.yaml's."""
    value = getattr(args, key, None)
    return value if value is not None else load_params(".")[key]
