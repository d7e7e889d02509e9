"""The judge's margins on a question set, to calibrate a model's thresholds (docs/QUALITY.md).

    BOT_THREADS=2 .venv/bin/python eval/judge_margins.py ../shared/data/squad_complexity_dev.jsonl \
        --model 0.5b --out results/margins.0.5b.jsonl

For each turn (follow-ups resolved as the bot does), the judge's yes/no margin for each of the
sentences a refusal's second look would consider, asked after the answering prompt exactly as
`Bot.judge` asks it. Prints how the best margin per question separates answerable from
unanswerable turns (AUC) and the share of each above a range of thresholds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.answer import open_bot
from bot.evaluate import bots_by_document, normalize, read_question_set
from bot.followup import resolve
from bot.llm import load_llm
from bot.prompt import Turn
from bot.settings import Settings


def auc(positive: list[float], negative: list[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in positive for n in negative]
    return sum(pairs) / max(1, len(pairs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("qa")
    parser.add_argument("--model", default="1.5b")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    settings = Settings.load(model=args.model)
    conversations = read_question_set(Path(args.qa))
    rows = []
    llm = load_llm(settings)
    llm.judge_thresholds = llm.judge_thresholds or (0.0, 0.0)  # so that Bot.judge asks
    bot_for = bots_by_document(
        lambda document: open_bot(settings, [document], llm=llm, log=print),
        lambda: open_bot(settings, llm=llm, log=print),
    )
    for conv in conversations:
        bot = bot_for(conv)
        history: list[Turn] = []
        for number, turn in enumerate(conv["turns"]):
            question = resolve(turn["question"], history)
            queries = bot._queries(question, history)
            history.append(Turn(turn["question"], ""))
            hits = bot.retriever.search(queries, max(settings.top_k, 3))
            passages = bot.passages(lambda hits=hits: hits, None)
            candidates = bot.focused(question, hits, passages)
            margins = bot.judge(question, passages, candidates)
            evidence = [normalize(e) for e in turn.get("evidence", [])]
            rows.append(
                {
                    "id": conv["id"],
                    "turn": number,
                    "answerable": turn["answerable"],
                    "question": turn["question"],
                    "candidates": [
                        {
                            "text": p.sentence.text,
                            "margin": round(m, 3),
                            "evidence": any(e in normalize(p.sentence.text) for e in evidence),
                        }
                        for p, m in zip(candidates, margins, strict=True)
                    ],
                }
            )
            print(rows[-1]["answerable"], [c["margin"] for c in rows[-1]["candidates"]], flush=True)
    Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    report(rows)


def report(rows: list[dict]) -> None:
    best = {True: [], False: []}
    for r in rows:
        best[r["answerable"]].append(max((c["margin"] for c in r["candidates"]), default=-99.0))
    print(f"AUC {auc(best[True], best[False]):.3f} ({len(best[True])} / {len(best[False])})")
    for t in sorted({round(x * 0.25, 2) for x in range(-20, 21)}):
        above = [sum(m > t for m in best[k]) / max(1, len(best[k])) for k in (True, False)]
        print(f"above {t:5.2f}: answerable {above[0]:.2f}  unanswerable {above[1]:.2f}")


if __name__ == "__main__":
    main()
