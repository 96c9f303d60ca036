"""Speech corpora: synthesised embedded corpora, loaders for real corpora, one manifest format."""
