import shutil
from pathlib import Path

import pytest
import yaml

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
