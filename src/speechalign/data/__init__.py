"""The data stage: one manifest format (``manifest``) for the embedded corpora synthesised offline with exact
word times (``corpora``), the real clips (``real``), real corpora in their published layouts (``loaders``) and
the spoken benchmark suites (``bench``)."""

# synthesised here (bench is built from the sqa and paralinguistic corpora)
EMBEDDED = ("sqa", "paralinguistic", "sift", "bench")
# loaders of published layouts
REAL = ("librisqa", "librispeech", "iemocap", "cremad", "commonvoice")
# real spoken benchmarks: items.jsonl (speechalign.data.bench.loaders)
BENCHMARKS = ("voicebench", "airbench")
