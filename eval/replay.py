"""Replay attribution on a traced results file (eval/trace.py) without the chat model.

    .venv/bin/python eval/replay.py QA.jsonl TRACED.jsonl

For every answered turn, the final traced reply is attributed again with the current
bot/attribute.py over the same passages, and evidence recall and source precision are printed
for the sources as recorded and as replayed. Answers and refusals stay as they were.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.answer import open_bot
from bot.attribute import attribute, parse_reply, quote_citations
from bot.evaluate import bots_by_document, normalize, read_question_set
from bot.followup import resolve
from bot.llm import FakeLLM
from bot.prompt import Turn
from bot.settings import Settings


def main(qa: str, traced: str) -> None:
    settings = Settings.load()
    conversations = read_question_set(Path(qa))
    results = {}
    for line in Path(traced).read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        results[(r["id"], int(r["turn"]))] = r
    bot_for = bots_by_document(
        lambda document: open_bot(settings, [document], llm=FakeLLM(), log=lambda m: None),
        lambda: open_bot(settings, llm=FakeLLM(), log=lambda m: None),
    )
    tally = {"old": [0, 0, 0], "new": [0, 0, 0]}  # evidence hits, good sources, sources
    changed = 0
    for conv in conversations:
        bot = bot_for(conv)
        history: list[Turn] = []
        for number, turn in enumerate(conv["turns"]):
            r = results[(conv["id"], number)]
            question = resolve(turn["question"], history)
            queries = bot._queries(question, history)
            history.append(Turn(turn["question"], r["answer"]))
            if not turn["answerable"] or not r["answerable"]:
                continue
            replies = [t for t in r.get("trace", []) if t["kind"] == "reply"]
            hits = bot.retriever.search(queries, max(settings.top_k, 3))
            passages = bot.passages(lambda hits=hits: hits, None)
            if r.get("note") or not replies:
                new = r["sources"]  # quoted source after a dropped negation: as recorded
            else:
                raw = replies[-1]["raw"]
                reply = quote_citations(raw, passages) or parse_reply(raw)
                new = [s.to_dict() for s in attribute(reply, question, passages)]
            evidence = [normalize(e) for e in turn.get("evidence", [])]
            for name, sources in (("old", r["sources"]), ("new", new)):
                good = [s for s in sources if any(e in normalize(s["text"]) for e in evidence)]
                tally[name][0] += bool(good)
                tally[name][1] += len(good)
                tally[name][2] += len(sources)
            if [s["text"] for s in new] != [s["text"] for s in r["sources"]]:
                changed += 1
                print(f"{conv['id']}#{number}: {r['answer'][:90]}")
                for name, sources in (("old", r["sources"]), ("new", new)):
                    for s in sources:
                        mark = "+" if any(e in normalize(s["text"]) for e in evidence) else "-"
                        print(f"   {name} {mark} {s['text'][:90]}")
    answerable = sum(t["answerable"] for c in conversations for t in c["turns"])
    for name, (hits_, good, n) in tally.items():
        recall, precision = hits_ / answerable, good / max(1, n)
        print(
            f"{name}: evidence_recall {recall:.3f}  source_precision {precision:.3f} ({good}/{n})"
        )
    print(f"turns with other sources: {changed}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
