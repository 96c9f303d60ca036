"""speechalign: speech-text alignment (ALAS) and SIFT training for speech LLMs."""

__version__ = "0.1.0"
