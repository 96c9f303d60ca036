"""Run by tests/train/test_fit.py under `accelerate launch --multi_gpu --num_processes 2`: the tiny training
of ``tiny_sift.tiny_run`` in each process; rank 0 saves the result to compare with one process."""

import sys

import torch
from accelerate import Accelerator
from tiny_sift import tiny_llm, tiny_run

if __name__ == "__main__":
    accelerator = Accelerator(cpu=True)  # without cpu=True each process would train alone (docs/facts.md)
    llm, tokenizer = tiny_llm()
    variant = {"name": "t", "data": ["sift_s"], "encoders": "dual", "train": ["semantic", "paralinguistic"]}
    result = tiny_run((llm, tokenizer), variant=variant, accelerator=accelerator)
    if accelerator.is_main_process:
        torch.save(
            {
                "processes": accelerator.num_processes,
                "state": {k: v.clone() for k, v in result.projectors.state_dict().items()},
                "steps": [r["step"] for r in result.rows],
                "val_loss": [r["val_loss"] for r in result.rows],
            },
            sys.argv[1],
        )
