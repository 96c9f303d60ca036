import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_copy import copy_workflow, sh

from speechalign.params import ParamsError, deep_merge, load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    """A copy of the real params, overlays and schema, to corrupt safely."""
    shutil.copy(ROOT / "params.yaml", tmp_path)
    shutil.copytree(ROOT / "params", tmp_path / "params")
    shutil.copytree(ROOT / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    return tmp_path


def edit_params(root: Path, **changes) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(deep_merge(params, changes)))


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert deep_merge(base, {"a": {"y": [3]}, "c": 2}) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}  # input untouched


@pytest.mark.parametrize("profile", ["quick", "small", "paper"])
def test_every_profile_validates(profile):
    params = load_params(ROOT, {"profile": profile})
    assert params["profile"] == profile


def test_paper_profile_overlays_models_and_allows_hub():
    params = load_params(ROOT, {"profile": "paper"})
    assert params["hub"]["allow"] is True
    assert params["models"]["llm"] == "Qwen/Qwen2.5-7B-Instruct"
    assert params["models"]["lock"] == "models.lock.yaml"  # untouched keys keep their base value


def test_overrides_beat_the_profile(project):
    params = load_params(project, {"profile": "paper", "models": {"llm": "my/model"}})
    assert params["models"]["llm"] == "my/model"
    assert params["models"]["whisper"] == "openai/whisper-large-v3"


def test_bad_value_names_the_key(project):
    edit_params(project, seed=-3)
    with pytest.raises(ParamsError, match=r"seed: -3 is less than the minimum"):
        load_params(project)


def test_bad_nested_value_names_the_dotted_key(project):
    edit_params(project, hub={"allow": "yes"})
    with pytest.raises(ParamsError, match=r"hub\.allow: 'yes' is not of type 'boolean'"):
        load_params(project)


def test_unknown_key_is_rejected(project):
    edit_params(project, models={"lmm": "typo"})
    with pytest.raises(ParamsError, match=r"models: Additional properties are not allowed \('lmm'"):
        load_params(project)


def test_unknown_profile_lists_the_known_ones(project):
    with pytest.raises(ParamsError, match=r"unknown profile 'huge'; known profiles: paper, quick, small"):
        load_params(project, {"profile": "huge"})


def test_malformed_yaml_is_a_clear_error(project):
    (project / "params.yaml").write_text("seed: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(project)


# --- precedence: defaults < profile < params.yaml < overrides -----------------------------------------------


@pytest.mark.parametrize("profile", ["quick", "small", "paper"])
def test_a_key_set_in_params_yaml_wins_over_every_profile(project, profile):
    profile_steps = load_params(project, {"profile": profile})["train"]["steps"]
    edit_params(project, train={"steps": 77})
    params = load_params(project, {"profile": profile})
    assert profile_steps != 77 and params["train"]["steps"] == 77
    assert params["train"]["lr"] == load_params(ROOT, {"profile": profile})["train"]["lr"]  # others untouched


def test_the_layers_apply_in_order(project):
    defaults = yaml.safe_load((project / "params" / "defaults.yaml").read_text())
    quick = yaml.safe_load((project / "params" / "quick.yaml").read_text())
    assert defaults["train"]["steps"] != quick["train"]["steps"]  # the profile sets this key
    assert load_params(project)["train"]["steps"] == quick["train"]["steps"]  # profile over defaults
    edit_params(project, train={"steps": 5})
    assert load_params(project, {"train": {"steps": 6}})["train"]["steps"] == 6  # --config over params.yaml


def test_params_yaml_holds_only_the_users_settings():
    """Defaults live in params/defaults.yaml: a key in params.yaml would silently beat every profile."""
    assert set(yaml.safe_load((ROOT / "params.yaml").read_text())) == {"profile"}
    assert "profile" not in yaml.safe_load((ROOT / "params" / "defaults.yaml").read_text())


def test_defaults_are_not_a_profile(project):
    with pytest.raises(ParamsError, match=r"unknown profile 'defaults'"):
        load_params(project, {"profile": "defaults"})


def test_resolved_record_round_trips(tmp_path):
    from speechalign.params import main

    params = load_params(ROOT, {"profile": "paper"})
    assert main(["--out", str(tmp_path / "p.yaml"), "--resolved", json.dumps(params)]) == 0
    assert yaml.safe_load((tmp_path / "p.yaml").read_text()) == params


# --- end to end: `dvc exp run -S` of a key the profile sets changes the job's command ----------------------


def job_steps(repo: Path) -> int:
    """train.steps in the command of the dry-run job that trains sift_s (seed 0)."""
    out = sh("snakemake", "-n", "--forceall", "-p", "--", "data/sift/models/sift_s/seed0", cwd=repo)
    (command,) = [c for c in re.findall(r"^Shell command: (.+)$", out, re.M) if " train fit " in c]
    args = shlex.split(command)
    return json.loads(args[args.index("--train-params") + 1])["steps"]


@pytest.fixture
def repo(tmp_path):
    return copy_workflow(tmp_path)


def test_dvc_exp_run_set_param_reaches_the_job_and_dvcs_record(repo):
    quick_steps = yaml.safe_load((repo / "params" / "quick.yaml").read_text())["train"]["steps"]
    assert job_steps(repo) == quick_steps != 77
    sh("dvc", "exp", "run", "-S", "++train.steps=77", "params", cwd=repo)  # DVC's own params edit
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"] == {"steps": 77}
    assert job_steps(repo) == 77  # the job's command changed, under the quick profile
    record = yaml.safe_load((repo / "results" / "params.yaml").read_text())
    assert (record["profile"], record["train"]["steps"]) == ("quick", 77)
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo))
    revs = [r for top in shown for r in [top, *[e for x in top.get("experiments") or [] for e in x["revs"]]]]
    files = [
        (r.get("name"), (r.get("data") or {}).get("params", {}).get("results/params.yaml", {})) for r in revs
    ]
    recorded = {name: f["data"]["train"]["steps"] for name, f in files if "data" in f}
    assert 77 in recorded.values(), recorded  # what DVC records for the experiment is what the job ran


def test_a_profile_extends_another(project):
    (project / "params" / "mini.yaml").write_text("extends: small\ntrain: {seeds: [0]}\n")
    small, mini = load_params(project, {"profile": "small"}), load_params(project, {"profile": "mini"})
    assert mini["train"]["seeds"] == [0] != small["train"]["seeds"]  # its own value wins
    assert mini["train"]["steps"] == small["train"]["steps"] != load_params(project)["train"]["steps"]
    assert mini["profile"] == "mini" and "extends" not in mini


def test_a_profile_extending_an_unknown_or_itself_is_a_clear_error(project):
    (project / "params" / "a.yaml").write_text("extends: b\n")
    (project / "params" / "b.yaml").write_text("extends: a\n")
    (project / "params" / "c.yaml").write_text("extends: nope\n")
    with pytest.raises(ParamsError, match=r"'a': extends itself \(a -> b -> a\)"):
        load_params(project, {"profile": "a"})
    with pytest.raises(ParamsError, match=r"profile 'c': extends unknown profile 'nope'"):
        load_params(project, {"profile": "c"})
