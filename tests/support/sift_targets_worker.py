"""Run by tests/sift/test_targets.py, alone and under `accelerate launch --multi_gpu --num_processes 2`: the
`speechalign sift targets` command on nine utterances with the tiny random LM saved in the folder given."""

import argparse
import sys
from types import SimpleNamespace

from speechalign.data import manifest
from speechalign.sift import cli

UTTERANCES = [
    SimpleNamespace(
        id=f"u{i}",
        text=f"Sentence number {i} is here.",
        gender=None,
        emotion=None,
        age_group=None,
        split="train",
    )
    for i in range(9)
]

if __name__ == "__main__":
    llm, out, cache, params = sys.argv[1:5]
    manifest.read_manifest = lambda folder: UTTERANCES  # the command reads it at call time
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["targets", "--manifest", "m", "--mode", "sift_s", "--out", out, "--cache", cache, "--llm", llm,
         "--sift-params", params, "--backends-params", '{"system_prompt": ""}']
    )  # fmt: skip
    cli.run(args)
