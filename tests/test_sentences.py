from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sentences import split_sentences
from tests.conftest import ARTICLE


def test_article_sentences_are_exact_and_keep_quotations_whole():
    text = ARTICLE.read_text(encoding="utf-8")
    sentences = split_sentences(text)
    assert all(text[s.start : s.end] == s.text for s in sentences)
    assert len(sentences) == 17
    # A quotation holding three sentences stays with the words that introduce it.
    warned = next(s for s in sentences if "Rasmussen warned" in s.text)
    assert warned.text.endswith('We must seize the opportunity to build on it".')
    # The quotation that is never closed ends at its line; it does not swallow the next one.
    unclosed = next(s for s in sentences if s.text.startswith('"NATO cannot solve'))
    assert unclosed.text.endswith("never intended to do so.")
    assert any(
        s.text.startswith("Rasmussen also met with Israel’s Foreign Minister") for s in sentences
    )
    # Curly quotes end a sentence correctly: the closing quote belongs to its sentence.
    lieberman = next(s for s in sentences if "Lieberman" in s.text)
    assert lieberman.text.endswith("thinking “out of the box”.")


def test_abbreviations_do_not_end_sentences():
    text = (
        "Mr. Smith met Dr. Jones in Washington D.C. on Monday. They talked about the U.S. economy."
    )
    assert [s.text for s in split_sentences(text)] == [
        "Mr. Smith met Dr. Jones in Washington D.C. on Monday.",
        "They talked about the U.S. economy.",
    ]


def test_a_long_quotation_is_split_into_sentence_sized_pieces():
    quote = " ".join(
        f"Point number {i} is a long and important remark about the budget." for i in range(9)
    )
    text = f'The minister said "{quote}" and left.'
    sentences = split_sentences(text)
    assert len(sentences) > 1
    assert all(len(s.text) <= 400 for s in sentences)
    assert all(text[s.start : s.end] == s.text for s in sentences)


ALPHABET = st.sampled_from([*list("abcXYZ .!?\"'“”’\n\t,;:-0123456789"), "Mr.", "U.S.", "é", "中"])


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=200).map("".join))
def test_offsets_reproduce_text_in_order_and_cover_all_non_space(text):
    sentences = split_sentences(text)
    covered = [False] * len(text)
    previous_end = 0
    for number, s in enumerate(sentences):
        assert s.id == number
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
        assert s.start >= previous_end
        previous_end = s.end
        for i in range(s.start, s.end):
            covered[i] = True
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))
