"""Each turn of a results file beside its question set: verdict, answer, note, sources marked
as evidence (+) or not (-). `python eval/show.py QA.jsonl RESULTS.jsonl [--fail]`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bot.evaluate import normalize


def main(qa: str, results: str, only_failures: bool) -> None:
    turns = {}
    for line in Path(qa).read_text(encoding="utf-8").splitlines():
        if line.strip():
            conv = json.loads(line)
            for number, turn in enumerate(conv["turns"]):
                turns[(conv["id"], number)] = turn
    for line in Path(results).read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        turn = turns[(r["id"], int(r["turn"]))]
        answer = normalize(r["answer"])
        evidence = [normalize(e) for e in turn.get("evidence", [])]
        marks = [
            "+" if any(e in normalize(s["text"]) for e in evidence) else "-" for s in r["sources"]
        ]
        if turn["answerable"]:
            ok = r["answerable"] and all(re.search(p, answer, re.I) for p in turn["answers"])
            verdict = "OK " if ok else ("REF" if not r["answerable"] else "BAD")
            if ok and "-" in marks:
                verdict = "OK~"
        else:
            ok = not r["answerable"]
            verdict = "ok " if ok else "ANS"
        if only_failures and verdict in ("OK ", "ok "):
            continue
        print(f"{verdict} {r['id']}#{r['turn']} {''.join(marks)} Q: {turn['question']}")
        print(f"      A: {r['answer'][:220]}" + (f"  [{r['note']}]" if r.get("note") else ""))
        if verdict != "ok ":
            for mark, s in zip(marks, r["sources"], strict=True):
                print(f"      {mark} {s['text'][:150]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--fail" in sys.argv)
