"""Where retrieval puts the evidence of each answerable turn of a question set (no chat model).

    .venv/bin/python eval/retrieval.py ../shared/data/squad_complexity_dev.jsonl

For each answerable turn: the rank of the first retrieved chunk holding an evidence fragment
(retrieval as the bot does it, follow-ups included), and whether the focused second look's
sentences hold it. Diagnoses false refusals: the model cannot cite what it is not shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.answer import FOCUSED_CHUNKS, open_bot
from bot.evaluate import bots_by_document, normalize, read_question_set
from bot.followup import resolve
from bot.llm import FakeLLM
from bot.prompt import Turn
from bot.settings import Settings


def main(path: str) -> None:
    settings = Settings.load()
    conversations = read_question_set(Path(path))
    bot_for = bots_by_document(
        lambda document: open_bot(settings, [document], llm=FakeLLM(), log=lambda m: None),
        lambda: open_bot(settings, llm=FakeLLM(), log=lambda m: None),
    )
    ranks = []
    in_focus_count = 0
    for conv in conversations:
        bot = bot_for(conv)
        history: list[Turn] = []
        for number, turn in enumerate(conv["turns"]):
            question = resolve(turn["question"], history)
            history.append(Turn(turn["question"], ""))
            if not turn["answerable"]:
                continue
            evidence = [normalize(e) for e in turn.get("evidence", [])]
            hits = bot.retriever.search(bot._queries(question, history[:-1]), 20)
            rank = next(
                (
                    n
                    for n, h in enumerate(hits, start=1)
                    if any(
                        e in normalize(bot.index.sentence(h.chunk.doc_id, s).text)
                        for s in h.chunk.sentence_ids
                        for e in evidence
                    )
                ),
                None,
            )
            passages = bot._passages_from_hits(hits[: settings.top_k])
            focused = bot.focused(question, hits[:FOCUSED_CHUNKS], passages)
            in_focus = any(e in normalize(p.sentence.text) for p in focused for e in evidence)
            ranks.append(rank)
            in_focus_count += in_focus
            print(f"{conv['id']}#{number}\trank={rank}\tfocus={in_focus}\t{turn['question']}")
    n = len(ranks)
    for k in (1, 3, 6, 10, 20):
        print(f"recall@{k}: {sum(1 for r in ranks if r and r <= k) / n:.3f}")
    print(f"second look holds the evidence: {in_focus_count / n:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
