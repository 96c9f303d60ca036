"""The oracle's layout: token spoken at each time from exact word times (hand-computed), and audio position
times from the encoder's geometry, independent of the backend's declared frame rate."""

from __future__ import annotations

import numpy as np

from speechalign.metrics.alas import row_times
from speechalign.validity.timeline import position_centres, spoken_tokens


def test_spoken_tokens_by_hand():
    # "to unbelievable": words 0-2 and 3-15; tokens "to" (0-2), " un" (2-5), "believ" (5-11), "able" (11-15)
    # word 1 lasts 1.2-2.4 s over its 12 characters (3..14): 0.1 s per character
    words, chars = [(0.5, 1.0), (1.2, 2.4)], [(0, 2), (3, 15)]
    tokens = [(0, 2), (2, 5), (5, 11), (11, 15)]
    times = np.array([0.1, 0.7, 1.1, 1.25, 1.45, 2.0, 2.35, 3.0])
    # 0.1 before speech -> "to"; 0.7 inside "to"; 1.1 pause -> last char of "to"; 1.25 -> char 3 (" un");
    # 1.45 -> char 5 ("believ"); 2.0 -> char 11 ("able"); 2.35 -> char 14; 3.0 after -> last char
    assert spoken_tokens(words, chars, tokens, times).tolist() == [0, 0, 0, 1, 2, 3, 3, 3]


def test_position_centres_follow_the_encoder_not_the_declared_frame_rate(tiny_composed):
    declared = row_times(6, tiny_composed.frame_seconds, tiny_composed.offset_seconds)
    np.testing.assert_allclose(position_centres(tiny_composed, 6), declared)  # a correct backend agrees
    frame = tiny_composed.frame_seconds
    try:
        tiny_composed.frame_seconds = 2 * frame  # a wrong declaration does not move the physical times
        np.testing.assert_allclose(position_centres(tiny_composed, 6), declared)
    finally:
        tiny_composed.frame_seconds = frame
    # stack 4 of 20 ms encoder positions: centres at 30, 110, 190 ms
    np.testing.assert_allclose(position_centres(tiny_composed, 3), [0.03, 0.11, 0.19])
