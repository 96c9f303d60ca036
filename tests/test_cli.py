import subprocess
import sys

import pytest

from speechalign.cli import STAGES, build_parser, main


def test_top_level_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for stage in STAGES:
        assert stage in out


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_has_help(stage, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([stage, "--help"])
    assert exit_.value.code == 0
    assert "usage: speechalign " + stage in capsys.readouterr().out


def test_missing_stage_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([])
    assert exit_.value.code == 2


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "speechalign.cli",
            "models",
            "--lock",
            "models.lock.yaml",
            "--name",
            "nope",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "speechalign models: error:" in proc.stderr and "no model named 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_command_line_imports_no_heavy_library(stage):
    # every job is one such command and `--help` must answer at once: these cost seconds to import, so a stage
    # imports them inside the step that uses them
    code = (
        "import sys\n"
        "from speechalign.cli import build_parser, requested_stage\n"
        f"build_parser(requested_stage([{stage!r}, '--help']))\n"
        "heavy = ('torch', 'scipy', 'numba', 'transformers', 'sentence_transformers')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_requested_stage_skips_options_and_unknown_words():
    from speechalign.cli import requested_stage

    assert requested_stage(["-v", "alas", "score"]) == "alas"
    assert requested_stage(["--version"]) is None
    assert requested_stage(["nope", "alas"]) is None
