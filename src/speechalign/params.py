"""The one configuration, resolved in one order of precedence (later wins):

1. ``params/defaults.yaml``: every key, with its meaning (the built-in defaults);
2. ``params/<profile>.yaml``: the profile's sizes (quick, small, paper); a profile may start from another
   (``extends: small``: that profile's values first, then its own);
3. ``params.yaml``: the profile to use and *your* settings (what ``dvc exp run -S`` edits);
4. explicit overrides: Snakemake's ``--config``.

The result is validated against ``workflow/schemas/params.schema.yaml``. ``snakemake params`` writes it to
``results/params.yaml``, the file whose values DVC records for every stage (dvc.yaml), so what DVC records is
what ran. A stage's command reads its sections with ``section``: the JSON its rule passed
(``--<section>-params``), or the resolved params of the current folder when run by hand.

    >>> params = load_params(".")                      # doctest: +SKIP
    >>> params = load_params(".", {"profile": "small"}) # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PARAMS_FILE = "params.yaml"
PROFILE_DIR = "params"
DEFAULTS_FILE = f"{PROFILE_DIR}/defaults.yaml"
SCHEMA_FILE = "workflow/schemas/params.schema.yaml"
RESOLVED_FILE = "results/params.yaml"


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


def profile_names(root: str | os.PathLike = ".") -> list[str]:
    """The profiles under ``params/`` (every YAML file there but the defaults)."""
    return sorted(p.stem for p in (Path(root) / PROFILE_DIR).glob("*.yaml") if p.stem != "defaults")


def profile_layers(root: Path, profile: str, seen: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The profile's overlay after those of the profiles it ``extends`` (the base first)."""
    if profile in seen:
        raise ParamsError(f"profile {profile!r}: extends itself ({' -> '.join([*seen, profile])})")
    if profile not in profile_names(root):
        known = ", ".join(profile_names(root))
        source = f"profile {seen[-1]!r}: extends" if seen else "profile:"
        raise ParamsError(f"{source} unknown profile {profile!r}; known profiles: {known}")
    overlay = read_yaml(root / PROFILE_DIR / f"{profile}.yaml")
    base = overlay.pop("extends", None)
    return [overlay] if base is None else [*profile_layers(root, base, (*seen, profile)), overlay]


def layers(root: str | os.PathLike = ".", overrides: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The layers in order of precedence (defaults, the profile's, params.yaml, overrides), unmerged."""
    root = Path(root)
    overrides = dict(overrides or {})
    defaults, user = read_yaml(root / DEFAULTS_FILE), read_yaml(root / PARAMS_FILE)
    profile = overrides.get("profile", user.get("profile", defaults.get("profile")))
    if not isinstance(profile, str) or not profile:
        raise ParamsError(f"{PARAMS_FILE}: profile: expected a profile name (a file in {PROFILE_DIR}/)")
    return [defaults, *profile_layers(root, profile), user, overrides | {"profile": profile}]


def load_params(root: str | os.PathLike = ".", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The resolved params under ``root``: defaults < profile < params.yaml < ``overrides``, validated.
    The profile chosen is kept in ``params["profile"]``."""
    found = layers(root, overrides)
    params: dict[str, Any] = {"profile": found[-1]["profile"]}  # first, as in params.yaml
    for layer in found:
        params = deep_merge(params, layer)
    validate(params, read_yaml(Path(root) / SCHEMA_FILE), source=f"params (profile {params['profile']})")
    return params


def write_resolved(params: Mapping[str, Any], out: str | os.PathLike) -> None:
    """The resolved params as YAML (keys in file order): DVC's params file (dvc.yaml), the record of a run."""
    from speechalign.io import write_text

    header = "# The params that ran: params/defaults.yaml < params/<profile>.yaml < params.yaml < --config\n"
    write_text(out, header + yaml.safe_dump(dict(params), sort_keys=False, allow_unicode=True, width=110))


def add_section_options(parser: argparse.ArgumentParser, *sections: str) -> None:
    """``--<section>-params JSON`` for each section a command reads (its rule passes the resolved values)."""
    for section in sections:
        parser.add_argument(
            f"--{section}-params",
            metavar="JSON",
            help=f"the '{section}' section of the resolved params as JSON (rules pass it); "
            "default: the params resolved in the current folder",
        )


def section(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Params section ``name``: the JSON its rule passed with ``--<name>-params``, else the resolved one's."""
    given = getattr(args, f"{name.replace('-', '_')}_params", None)
    return json.loads(given) if given else load_params(".")[name]


def top_level(args: argparse.Namespace, key: str) -> Any:
    """A top-level param (e.g. ``seed``): the command's ``--<key>`` when given, else the resolved one."""
    value = getattr(args, key, None)
    return value if value is not None else load_params(".")[key]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m speechalign.params --resolved JSON --out results/params.yaml`` (rule ``params_record``);
    without ``--resolved``: the params resolved in the current folder."""
    parser = argparse.ArgumentParser(prog="python -m speechalign.params", description=main.__doc__)
    parser.add_argument("--resolved", metavar="JSON", help="the resolved params (the Snakefile's config)")
    parser.add_argument("--out", default=RESOLVED_FILE, help=f"where to write them (default {RESOLVED_FILE})")
    args = parser.parse_args(argv)
    try:
        write_resolved(json.loads(args.resolved) if args.resolved else load_params("."), args.out)
    except ParamsError as err:
        print(f"params: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
