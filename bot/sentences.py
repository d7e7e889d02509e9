"""Split stage: sentences with exact character offsets (pysbd, with fixes on top)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

SPLITTER = "pysbd"
# Bump when the fixes below change, so that indexes built with the old rules are rebuilt.
SPLITTER_RULES = 2
# A sentence longer than this that holds several quoted sentences is split inside the quotation.
LONG_SENTENCE = 400
MIN_PIECE = 40

_LINE = re.compile(r"[^\n]+")
_CLOSERS = set("\"'”’»)]}.!?…")
# Where a long quotation may be split: after . ! or ? (and closing quotes), before a capital.
_INNER_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’]?\s+(?=[\"'“‘(]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Col|Lt|Sgt|Gov|Sen|"
    r"Rep|Rev|Inc|Ltd|Co|Corp|No|vs|etc|e\.g|i\.e|U\.S|U\.N))\.$"
)


@dataclass(frozen=True)
class Sentence:
    id: int
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    # pysbd builds a regular expression for each abbreviation it meets: several hundred, more
    # than `re` caches (512), so it compiled them again and again (half its time on news).
    if getattr(re, "_MAXCACHE", 4096) < 4096:
        re._MAXCACHE = 4096
    return pysbd.Segmenter(language="en", clean=False)


def _segments(line: str) -> list[str]:
    """pysbd's sentences of one line, as it finds them, without its character spans.

    `Segmenter.segment` also locates every sentence in the text again with a regular
    expression made from it (a third of the splitting time); `_split_line` locates them itself.
    """
    segmenter = _segmenter()
    processor = getattr(segmenter, "processor", None)
    if processor is None:  # another pysbd: its public entry point
        return segmenter.segment(line)
    return processor(line).process()


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text` in order; `text[s.start:s.end] == s.text` for every one.

    Lines are split first, so that a quotation that is never closed cannot swallow the rest of
    the document, and every non-space character belongs to exactly one sentence.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        if line.group().strip():
            for start, end in _split_line(line.group()):
                spans.extend(_split_long(line.group(), start, end, offset=line.start()))
    return [Sentence(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]


def _split_line(line: str) -> list[tuple[int, int]]:
    """Locate pysbd's segments in the line; anything it altered falls back to one span."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for segment in _segments(line):
        piece = segment.strip()
        if not piece:
            continue
        start = _skip_space(line, cursor)
        if not line.startswith(piece, start):
            break
        end = start + len(piece)
        if spans and all(ch in _CLOSERS for ch in piece):
            # A stray closing quote or bracket belongs to the sentence before it.
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        cursor = end
    rest_start = _skip_space(line, cursor)
    if rest_start < len(line):
        rest_end = len(line.rstrip())
        spans.append((rest_start, rest_end))
    return spans


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _split_long(line: str, start: int, end: int, offset: int) -> list[tuple[int, int]]:
    """Split an over-long sentence (usually a long quotation) at its inner sentence ends."""
    if end - start <= LONG_SENTENCE:
        return [(start + offset, end + offset)]
    cuts = [start]
    for match in _INNER_BOUNDARY.finditer(line, start, end):
        before = line[cuts[-1] : match.start()].rstrip("\"'”’")
        if _ABBREVIATION.search(before):
            continue
        if match.start() - cuts[-1] >= MIN_PIECE and end - match.end() >= MIN_PIECE:
            cuts.append(match.end())
    pieces = []
    for i, piece_start in enumerate(cuts):
        piece_end = cuts[i + 1] if i + 1 < len(cuts) else end
        piece_end = len(line[:piece_end].rstrip())
        pieces.append((piece_start + offset, piece_end + offset))
    return pieces
