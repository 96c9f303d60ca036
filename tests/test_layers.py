"""The package's layering: a library floor that imports no stage, and no import loop between packages.

One stage = one package = one rule file = one CLI subcommand = one DVC stage = one docs page; the floor
(params, io, env, errors, text, audio, metrics, backends, models) is what stages stand on. ``models`` is
both: the floor's model references and the stage that provisions them, so it too imports no stage.
"""

import ast
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "speechalign"
FLOOR = {"params", "io", "env", "errors", "text", "audio", "metrics", "backends", "models", "__init__"}
STAGES = [
    "download",
    "models",
    "data",
    "reference",
    "alas",
    "validity",
    "sift",
    "train",
    "evaluate",
    "report",
]


def unit_of(module: str) -> str:
    """``speechalign.metrics.alas.mas`` -> ``metrics``: the top-level package or module it belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> dict[str, set[str]]:
    """Top-level unit -> the units it imports (at any depth of the file, lazy imports included)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = unit_of("speechalign." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("speechalign."):
                    target = unit_of(name) if name.count(".") == 1 else name.split(".")[1]
                    if (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file():
                        graph[source].add(target)
    return graph


def test_the_floor_imports_no_stage():
    graph = imports()
    stages = set(STAGES) - {"models"}
    violations = {unit: sorted(graph[unit] & stages) for unit in FLOOR if graph[unit] & stages}
    assert not violations, f"library floor -> stage imports: {violations}"


def find_loop(graph: dict[str, set[str]]) -> list[str] | None:
    """The first import loop of ``graph`` (a path that returns to its start), or None."""
    done, stack = set(), []

    def visit(unit):
        if unit in stack:
            return stack[stack.index(unit) :] + [unit]
        if unit in done:
            return None
        stack.append(unit)
        for target in sorted(set(graph.get(unit, ())) - {unit}):
            if loop := visit(target):
                return loop
        stack.pop()
        done.add(unit)
        return None

    return next((loop for unit in sorted(graph) if (loop := visit(unit))), None)


def test_no_import_loop_between_packages():
    loop = find_loop(imports())
    assert loop is None, "import loop: " + " -> ".join(loop)


def test_the_loop_finder_finds_a_loop():
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == ["a", "b", "c", "a"]
    assert find_loop({"a": {"b", "a"}, "b": set()}) is None


def test_each_stage_has_its_package_rule_file_subcommand_dvc_stage_and_page():
    from speechalign.cli import STAGES as SUBCOMMANDS

    dvc_stages = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    for stage in STAGES:
        assert (PACKAGE / stage / "cli.py").is_file(), stage
        assert (ROOT / "workflow" / "rules" / f"{stage}.smk").is_file(), stage
        assert SUBCOMMANDS[stage] == f"speechalign.{stage}.cli", stage
        assert stage in dvc_stages, stage
        assert (ROOT / "docs" / "stages" / f"{stage}.md").is_file(), stage
    assert sorted(SUBCOMMANDS) == sorted(STAGES)
    rule_files = {p.stem for p in (ROOT / "workflow" / "rules").glob("*.smk")} - {"common"}
    assert rule_files == set(STAGES)
