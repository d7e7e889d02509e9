"""`bot eval`: answer a question set (EVAL.md format), write results lines, score them."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

from bot import atomic
from bot.answer import Bot, Conversation
from bot.documents import Document, document_from_text
from bot.errors import BotError


def read_question_set(path: Path) -> list[dict]:
    """Conversations from a JSONL file, checked line by line so errors name their line."""
    path = Path(path)
    if not path.is_file():
        raise BotError(f"question set {path} does not exist or is not a file")
    conversations = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise BotError(f"question set {path} is not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            conv = json.loads(line)
        except json.JSONDecodeError as error:
            raise BotError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        turns = conv.get("turns") if isinstance(conv, dict) else None
        if (
            not isinstance(turns, list)
            or not turns
            or not all(isinstance(t, dict) and isinstance(t.get("question"), str) for t in turns)
        ):
            raise BotError(f'{path}:{number}: expected {{"id", "turns": [{{"question"...}}]}}')
        if "context" in conv and not isinstance(conv["context"], str):
            raise BotError(f'{path}:{number}: "context" must be a string')
        conv.setdefault("id", f"line-{number}")
        conversations.append(conv)
    if not conversations:
        raise BotError(f"question set {path} holds no conversations")
    return conversations


def bots_by_document(
    bot_for_document: Callable[[Document], Bot], default_bot: Callable[[], Bot]
) -> Callable[[dict], Bot]:
    """conversation -> the bot for its document (its "context", else the default one); each
    bot is made once, on first use."""
    bots: dict[str | None, Bot] = {}

    def bot_for(conv: dict) -> Bot:
        if "context" not in conv:
            if None not in bots:
                bots[None] = default_bot()
            return bots[None]
        document = document_from_text(conv["context"])
        if document.sha256 not in bots:
            bots[document.sha256] = bot_for_document(document)
        return bots[document.sha256]

    return bot_for


def run(
    conversations: list[dict],
    default_bot: Callable[[], Bot],
    bot_for_document: Callable[[Document], Bot],
    out: Path,
    progress: bool = True,
) -> list[dict]:
    """Ask every turn in order, one chat session per conversation; write results atomically."""
    from tqdm import tqdm

    results = []
    total = sum(len(c["turns"]) for c in conversations)
    bot_for = bots_by_document(bot_for_document, default_bot)
    with tqdm(
        total=total, desc="Evaluating", unit="turn", disable=not progress, file=sys.stderr
    ) as bar:
        for conv in conversations:
            chat = Conversation(bot_for(conv))
            for number, turn in enumerate(conv["turns"]):
                try:
                    answer = chat.ask(turn["question"])
                    results.append(answer.to_result(conv["id"], number))
                except BotError as error:  # e.g. an empty question: record it as not answered
                    results.append(
                        {
                            "id": conv["id"],
                            "turn": number,
                            "question": turn["question"],
                            "answer": f"Error: {error}",
                            "answerable": False,
                            "sources": [],
                            "latency_s": None,
                            "ttft_s": None,
                        }
                    )
                bar.update(1)
    with atomic.atomic_file(out, "w") as handle:
        for result in results:
            handle.write(json.dumps(result, ensure_ascii=False) + "\n")
    return results


# -- scoring: the same rules as the reference scorer (EVAL.md), so the figures agree ------------


def normalize(text: str | None) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


def _quantile(values: list[float], q: float) -> float | None:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else None


def score(conversations: list[dict], results: list[dict], default_doc: str | None) -> dict:
    by_turn = {(r["id"], int(r["turn"])): r for r in results}
    n = dict(
        answerable=0,
        correct=0,
        unanswerable=0,
        refused=0,
        false_refusals=0,
        evidence=0,
        sources=0,
        good_sources=0,
        source_chars=0,
        bad_offsets=0,
        missing=0,
    )
    latencies, ttfts = [], []
    for conv in conversations:
        document = conv.get("context", default_doc)
        for number, turn in enumerate(conv["turns"]):
            result = by_turn.get((conv["id"], number))
            if result is None:
                n["missing"] += 1
                continue
            if result.get("latency_s") is not None:
                latencies.append(result["latency_s"])
            if result.get("ttft_s") is not None:
                ttfts.append(result["ttft_s"])
            sources = result.get("sources") or []
            for s in sources:
                if (
                    document is not None
                    and "start" in s
                    and document[s["start"] : s["end"]] != s["text"]
                ):
                    n["bad_offsets"] += 1
            answer = normalize(result.get("answer", ""))
            said = bool(result.get("answerable"))
            if turn["answerable"]:
                n["answerable"] += 1
                n["correct"] += said and all(re.search(p, answer, re.I) for p in turn["answers"])
                n["false_refusals"] += not said
                evidence = [normalize(e) for e in turn.get("evidence", [])]
                good = [s for s in sources if any(e in normalize(s["text"]) for e in evidence)]
                n["evidence"] += bool(good)
                n["sources"] += len(sources)
                n["good_sources"] += len(good)
                n["source_chars"] += sum(len(s["text"]) for s in sources)
            else:
                n["unanswerable"] += 1
                n["refused"] += not said
    return {
        "answer_accuracy": n["correct"] / max(1, n["answerable"]),
        "refusal_accuracy": n["refused"] / n["unanswerable"] if n["unanswerable"] else None,
        "false_refusal_rate": n["false_refusals"] / max(1, n["answerable"]),
        "evidence_recall": n["evidence"] / max(1, n["answerable"]),
        "source_precision": n["good_sources"] / n["sources"] if n["sources"] else 0.0,
        "mean_source_chars": n["source_chars"] / n["sources"] if n["sources"] else 0.0,
        "offset_mismatches": n["bad_offsets"],
        "missing_turns": n["missing"],
        "turns": n["answerable"] + n["unanswerable"],
        "latency_p50_s": _quantile(latencies, 0.5),
        "latency_p95_s": _quantile(latencies, 0.95),
        "ttft_p50_s": _quantile(ttfts, 0.5),
    }


def format_metrics(metrics: dict) -> str:
    """The reference scorer's layout, line for line."""
    return "\n".join(
        f"{k:22s} {v:.3f}" if isinstance(v, float) else f"{k:22s} {v}" for k, v in metrics.items()
    )
