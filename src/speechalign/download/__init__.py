"""Stage 0, download: public corpora for users with a network (pinned checksums, resumable transfers,
safe atomic extraction into data/raw/<corpus>/); licence-gated corpora (IEMOCAP) by a manual step."""
