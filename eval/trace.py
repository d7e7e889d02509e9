"""`bot eval`, with what the model did on each turn kept in the results line ("trace").

    BOT_THREADS=2 .venv/bin/python eval/trace.py QA.jsonl --out results/x.jsonl \
        [--model 0.5b] [--judge 1.4,1.0 | --judge none]

The same pipeline and results format as `bot eval` (the scorer ignores the extra field), plus
every generated reply (raw, with its citations) and every judge margin in order. Lets a
threshold be replayed offline: an answer withdrawn by the judge becomes a refusal with no
second look, so a higher withdrawal threshold is exactly "withdraw when the traced source
margins are all below it".
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

from bot import evaluate as ev
from bot.answer import Bot, Conversation, open_bot
from bot.documents import load_document
from bot.embed import embedder_for
from bot.index import open_index
from bot.llm import load_llm
from bot.settings import Settings


class Tracing:
    """Wraps a model; records what it was asked to do and what it said."""

    def __init__(self, llm) -> None:
        self.llm = llm
        self.log: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.llm, name)

    def stream(self, messages, max_tokens, stop=None) -> Iterator[str]:
        pieces = []
        for piece in self.llm.stream(messages, max_tokens, stop):
            pieces.append(piece)
            yield piece
        focused = messages[-1]["content"].startswith("These sentences")
        self.log.append({"kind": "reply", "focused": focused, "raw": "".join(pieces)})

    def judge(self, messages) -> float:
        margin = self.llm.judge(messages)
        label = re.match(r"Sentence \[(\d+)\]: (.*)", messages[-1]["content"])
        self.log.append(
            {
                "kind": "judge",
                "label": int(label.group(1)) if label else None,
                "sentence": label.group(2)[:120] if label else "",
                "margin": round(margin, 3),
            }
        )
        return margin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("qa")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--judge", default=None, help="supported,doubted or none")
    args = parser.parse_args()
    settings = Settings.load(**({"model": args.model} if args.model else {}))
    conversations = ev.read_question_set(Path(args.qa))
    embedder = embedder_for(settings)
    llm = Tracing(load_llm(settings))
    if args.judge:
        thresholds = None if args.judge == "none" else tuple(map(float, args.judge.split(",")))
        llm.llm.judge_thresholds = thresholds

    def default_bot() -> Bot:
        bot = open_bot(settings, llm=llm, embedder=embedder)
        bot.warm_up()
        return bot

    bot_for = ev.bots_by_document(
        lambda document: Bot(open_index([document], embedder, settings), llm, embedder, settings),
        default_bot,
    )
    results = []
    for conv in conversations:
        chat = Conversation(bot_for(conv))
        for number, turn in enumerate(conv["turns"]):
            llm.log = []
            answer = chat.ask(turn["question"])
            results.append({**answer.to_result(conv["id"], number), "trace": llm.log})
            print(f"{conv['id']}#{number} {answer.answerable} {answer.text[:100]}", flush=True)
    Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results))
    default = any("context" not in c for c in conversations)
    text = load_document(settings.doc).text if default else None
    metrics = ev.score(conversations, results, text)
    print(ev.format_metrics(metrics))


if __name__ == "__main__":
    main()
