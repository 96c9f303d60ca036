"""ALAS validity: positive and negative controls, normalisations compared on them, the choice made on dev.

``validate_corpus`` scores the oracle (laid out by ``timeline`` from the exact word times, independently of
the reference path) and its noise and jitter sweeps, the aligned model (``aligned``: a projector trained to
map speech to the spoken token's embedding) and the ruler from it to the untrained projector, the model's own
audio, the negative controls (mismatched transcript, reversed audio, untrained projector) and placed models,
under every normalisation; ``separation``, ``ranking`` and ``selection`` say which normalisation tells them
apart best; ``summary`` reports a split (timing check, headline, ruler rho, placements).

The package imports nothing itself, so that ``speechalign validity --help`` stays light; import from the
modules (``controls``, ``measure``, ``separation``, ...).
"""
