"""Prompt stage: numbered passages and the conversation, laid into templates from `prompts/`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.errors import BotError
from bot.sentences import Sentence

HISTORY_TURNS = 3  # earlier turns given to the model; enough to resolve "he", "there", "it"


@dataclass(frozen=True)
class Passage:
    """A sentence shown to the model under a number it can cite."""

    label: int
    doc_id: str
    sentence: Sentence


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@cache
def load_template(prompts_dir: Path, name: str) -> str:
    path = Path(prompts_dir) / f"{name}.txt"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise BotError(f"prompt template {path} is missing") from None


def number_passages(refs: Sequence[tuple[str, Sentence]]) -> list[Passage]:
    """Label sentences 1..n in the order given (callers give document order)."""
    return [Passage(i, doc_id, s) for i, (doc_id, s) in enumerate(refs, start=1)]


def render_passages(passages: Sequence[Passage], titles: dict[str, str] | None = None) -> str:
    lines = []
    current = None
    for p in passages:
        if titles and len(titles) > 1 and p.doc_id != current:
            lines.append(f"Document: {titles.get(p.doc_id, p.doc_id)}")
            current = p.doc_id
        lines.append(f"[{p.label}] {' '.join(p.sentence.text.split())}")
    return "\n".join(lines)


def build_messages(
    template: str,
    passages: Sequence[Passage],
    question: str,
    history: Sequence[Turn] = (),
    titles: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    """System message with the passages first, so that llama.cpp can reuse it as a cached prefix."""
    system = template.replace("{passages}", render_passages(passages, titles))
    messages = [{"role": "system", "content": system}]
    for turn in list(history)[-HISTORY_TURNS:]:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    messages.append({"role": "user", "content": question})
    return messages


def focus_question(template: str, passages: Sequence[Passage], question: str) -> str:
    """The question with the sentences retrieval ranks highest, for a second look."""
    return template.replace("{passages}", render_passages(passages)).replace("{question}", question)
