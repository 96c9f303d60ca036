"""Spoken-benchmark items (``items``), their scorers (``scorers``) and IFEval's verifiable instructions
(``ifeval``)."""
