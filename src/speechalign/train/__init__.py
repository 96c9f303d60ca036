"""Training (AZEROS): two-stage projector training of every SIFT variant from cached features, and the
spoken-QA check of each trained model against its untrained control.

- ``model``: the speech LLM SIFT trains (dual placement of the semantic and paralinguistic projections);
- ``fit``: stage 1 / stage 2 training with accelerate, checkpoints (``speechalign.backends.checkpoint``),
  resume, curves;
- ``spoken_qa``: held-out spoken QA, paired with the untrained control.
"""
