"""Forced alignment of hyphenated words the pocketsphinx dictionary lacks (spelled-out numbers): the word
is aligned as its parts and spans them, so piper-voiced items with numbers are no longer rejected."""

from __future__ import annotations

import pytest

from speechalign.data.align import AlignmentError, align_words, dictionary_parts
from speechalign.data.espeak import synthesize


def test_dictionary_parts_splits_only_unknown_hyphenated_words_with_known_parts():
    assert dictionary_parts("seventy-one") == ["seventy", "one"]
    assert dictionary_parts("twelve") == ["twelve"]
    assert dictionary_parts("zzq-xxv") == ["zzq-xxv"]  # unknown parts: left whole (and reported missing)


def test_hyphenated_numbers_align_to_one_word_spanning_their_parts():
    s = synthesize("She is seventy-one years old.", "en-us+klatt4")
    words = align_words(s.audio, "She is seventy-one years old.", s.sample_rate)
    assert [w.text for w in words] == ["She", "is", "seventy-one", "years", "old"]
    exact = {w.text: w for w in s.words}
    number = words[2]
    # the exact espeak times of the whole number word, within the aligner's usual tolerance
    assert number.start == pytest.approx(exact["seventy-one"].start, abs=0.06)
    assert number.end == pytest.approx(exact["seventy-one"].end, abs=0.06)
    assert words[1].end <= number.start < number.end <= words[3].start


def test_unknown_hyphenated_words_are_still_reported():
    s = synthesize("A zzq-xxv here.", "en-us+klatt4")
    with pytest.raises(AlignmentError, match="zzq-xxv"):
        align_words(s.audio, "A zzq-xxv here.", s.sample_rate)
