"""Chunk stage: overlapping windows of consecutive sentences, each knowing its document."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sentences import Sentence


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    sentence_ids: tuple[int, ...]
    start: int
    end: int
    text: str


def chunk_sentences(
    doc_id: str, text: str, sentences: list[Sentence], size: int = 3, overlap: int = 1
) -> list[Chunk]:
    """Windows of `size` sentences, each sharing `overlap` sentences with the one before."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size=} {overlap=}")
    step = size - overlap
    chunks = []
    for first in range(0, len(sentences), step):
        window = sentences[first : first + size]
        start, end = window[0].start, window[-1].end
        chunks.append(Chunk(doc_id, tuple(s.id for s in window), start, end, text[start:end]))
        if first + size >= len(sentences):
            break
    return chunks
