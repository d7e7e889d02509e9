import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.chunks import chunk_sentences
from bot.sentences import split_sentences


def test_windows_of_consecutive_sentences_with_overlap():
    text = "One. Two. Three. Four. Five. Six."
    chunks = chunk_sentences("d", text, split_sentences(text), size=3, overlap=1)
    assert [c.sentence_ids for c in chunks] == [(0, 1, 2), (2, 3, 4), (4, 5)]
    assert chunks[1].text == "Three. Four. Five."
    assert all(c.doc_id == "d" and text[c.start : c.end] == c.text for c in chunks)


def test_bad_chunk_settings_are_refused():
    with pytest.raises(ValueError):
        chunk_sentences("d", "A.", split_sentences("A."), size=2, overlap=2)


@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 5))
def test_every_sentence_is_in_a_chunk(count, size, overlap):
    overlap = min(overlap, size - 1)
    text = " ".join(f"Sentence {i}." for i in range(count))
    sentences = split_sentences(text)
    chunks = chunk_sentences("d", text, sentences, size, overlap)
    seen = {i for c in chunks for i in c.sentence_ids}
    assert seen == set(range(len(sentences)))
    assert all(len(c.sentence_ids) <= size for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
