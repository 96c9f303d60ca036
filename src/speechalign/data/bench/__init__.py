"""The embedded spoken benchmark: questions authored from the sqa and paralinguistic corpora
(``questions``), the suite built and voiced (``suite``), and loaders of the real benchmarks in their
published layouts (``loaders``: VoiceBench, AIR-Bench foundation)."""
