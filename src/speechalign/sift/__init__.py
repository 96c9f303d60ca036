"""SIFT (AZEROS): self-generated targets, cached frozen-encoder features, two-stage projector training.

- ``targets``: the frozen LLM writes the targets per mode (tsit_s ... sift_ssp), cached and resumable;
- ``paralinguistic``: paralinguistic encoder candidates and the probe that chooses one;
- ``features``: frozen encoder features computed once per corpus (safetensors);
- ``model``: the speech LLM SIFT trains (dual placement of the semantic and paralinguistic projections);
- ``train``: stage 1 / stage 2 training with accelerate, checkpoints, resume, curves.
"""
