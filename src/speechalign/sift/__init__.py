"""SIFT (AZEROS) data: what the projectors are trained on.

- ``targets``: the frozen LLM writes the targets per mode (tsit_s ... sift_ssp), cached and resumable;
- ``features``: frozen encoder features computed once per corpus (safetensors shards);
- ``paralinguistic``: paralinguistic encoder candidates and the probe that chooses one.

Training on them is the next stage, ``speechalign.train``.
"""
