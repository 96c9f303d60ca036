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
