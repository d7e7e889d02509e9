"""Resolve a follow-up question against the conversation before retrieval and generation.

A question that leans on the one before it ("What did he say?", "For how long?") is sent on
with that earlier question beside it, so that both retrieval and the model see who "he" is.
Deterministic and free: no extra model call before the answer starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.prompt import Turn

_LEANS_BACK = re.compile(r"\b(he|she|him|his|her|hers|they|them|their|there|then)\b", re.I)
_ELLIPTIC_WORDS = 4  # "For how long?", "And why?", "Where?"
_ABOUT = "(about: "  # how a resolved follow-up carries the question it follows


def is_follow_up(question: str) -> bool:
    return bool(_LEANS_BACK.search(question)) or len(question.split()) <= _ELLIPTIC_WORDS


def resolve(question: str, history: Sequence[Turn], depth: int = 3) -> str:
    """The question, with the question it follows attached when it cannot stand alone.

    That earlier question is resolved the same way, so "Where?" after "For how long?" after
    "What did Abbas say?" still reaches Abbas (up to `depth` questions back).
    """
    if not history or depth == 0 or not is_follow_up(question):
        return question
    previous = resolve(history[-1].question, history[:-1], depth - 1)
    return f"{question} {_ABOUT}{previous})"


def echoes_resolution(reply: str) -> bool:
    """The reply repeats the resolved question ("To whom? (about: NATO would offer ...") rather
    than answering it: the 0.5B does this to short follow-ups."""
    return _ABOUT in reply


def _plain(text: str) -> str:
    return " ".join(re.sub(r"\[\d+\]|[^\w\s]", " ", text.lower()).split())


def repeats_earlier_answer(reply: str, question: str, history: Sequence[Turn]) -> bool:
    """The reply is, word for word, an answer given earlier in the conversation to another
    question: the model copied the conversation instead of reading the document."""
    said = _plain(reply)
    return bool(said) and any(
        _plain(turn.answer) == said and _plain(turn.question) != _plain(question)
        for turn in history
    )
