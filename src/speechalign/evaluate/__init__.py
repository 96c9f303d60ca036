"""Spoken benchmarks: one item format (items), judge-free scorers (scoring, ifeval), the embedded suite
(suite) and the real benchmarks' loaders (loaders)."""
