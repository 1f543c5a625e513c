"""Captions from what the narration says: word timings (vgen's and Whisper's), lines, cue limits."""

from __future__ import annotations

import pytest

from vgen.model import cues


def words(text: str, step: float = 0.4, length: float = 0.3) -> list[cues.Word]:
    return [cues.Word(w, round(i * step, 3), round(i * step + length, 3)) for i, w in enumerate(text.split())]


def test_word_timed_cues_follow_the_words_exactly():
    got = cues.from_words(words("One two three. Four five six."), offset=10.0)
    assert [text for _, _, text, _ in got] == ["One two three.", "Four five six."]
    assert [x for s, e, *_ in got for x in (s, e)] == pytest.approx([10.0, 11.1, 11.2, 12.3])


def test_cues_hold_two_lines_of_42_characters_and_7_seconds_at_most():
    text = " ".join(f"word{i:02d}" for i in range(60))
    for start, end, body, _ in cues.from_words(words(text, step=0.3), offset=0.0):
        lines = body.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines) and end - start <= 7.0 + 1e-9
    slow = cues.from_words(words("a b c d e f g h i j k l", step=1.0), offset=0.0)
    assert all(end - start <= 7.0 for start, end, *_ in slow) and len(slow) == 2


def test_a_full_cue_breaks_at_punctuation_first():
    text = "This sentence is long enough, and it keeps going on and on past the limit of two lines here"
    first = cues.from_words(words(text, step=0.1), offset=0.0)[0][2]
    assert first.replace("\n", " ").endswith("enough,") or len(first) > 40


def test_sentences_share_the_clip_by_their_length_without_words():
    got = cues.from_text("Short one. A much longer second sentence here.", 0.0, 8.0)
    assert [round(e - s, 3) for s, e, *_ in got] == [round(8 * 10 / 45, 3), round(8 * 35 / 45, 3)]
    assert got[0][0] == 0.0 and abs(got[-1][1] - 8.0) < 1e-9
    long = cues.from_text("A much longer second sentence here, and it goes on.", 0.0, 20.0)
    assert len(long) == 3 and all(e - s <= 7.0 for s, e, *_ in long)  # split: no cue over 7 s


def test_vgen_and_whisper_word_timings_read_the_same():
    mine = [{"word": "Hello", "start": 0.0, "end": 0.4}, {"word": "world", "start": 0.5, "end": 0.9}]
    whisper_top = {
        "text": "Hello world",
        "words": [{"word": " Hello", "start": 0.0, "end": 0.4}, {"word": " world", "start": 0.5, "end": 0.9}],
    }
    whisper_segments = {"segments": [{"id": 0, "words": whisper_top["words"]}]}
    assert cues.parse_words(mine) == cues.parse_words(whisper_top) == cues.parse_words(whisper_segments)


@pytest.mark.parametrize(
    "data, words",
    [
        ([], "no words"),
        ({"text": "x"}, "without `words`"),
        ([{"word": "a", "start": 1.0, "end": 0.5}], "before it starts"),
        ([{"word": "a", "start": 1.0, "end": 1.5}, {"word": "b", "start": 0.2, "end": 0.3}], "before the word before"),
        ([{"word": "a", "start": "0", "end": 1}], "numbers"),
        ([{"word": "a", "start": float("nan"), "end": 1}], "numbers"),
    ],
)
def test_bad_word_timings_say_what_is_wrong(data, words):
    with pytest.raises(cues.WordsError, match=words):
        cues.parse_words(data)
