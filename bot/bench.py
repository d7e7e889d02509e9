"""`make bench`: measure start-up, answer speed, retrieval and index build; write BENCHMARKS.md.

Benchmarks are not tests: they report figures, they do not assert them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from datetime import date
from pathlib import Path

from bot import atomic
from bot.settings import Settings

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def replace_section(path: Path, section: str) -> str:
    """The file with its bench section replaced, so hand-written notes around it survive."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        return text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", type=Path, default=Path("../shared/data/article_qa_dev.jsonl"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = parser.parse_args()
    settings = Settings.load(model=args.model)

    from bot import evaluate
    from bot.answer import Conversation, open_bot
    from bot.documents import document_from_text, load_document
    from bot.embed import load_embedder
    from bot.index import build_index
    from bot.retrieve import Retriever

    started = time.perf_counter()
    bot = open_bot(settings, log=lambda message: None)
    bot.warm_up()  # as `bot ask` does: restores the saved prompt state when there is one
    first = bot.ask("What did Lieberman say?")
    startup = time.perf_counter() - started

    document = load_document(settings.doc)
    embedder = load_embedder(settings.embedder)
    # A bigger text than the article, so that the rate is not all fixed cost.
    big = document_from_text("\n".join([document.text] * 40), doc_id="bench")
    build_times = []
    for _ in range(3):
        t = time.perf_counter()
        built = build_index([big], embedder, settings, progress=False)
        build_times.append(time.perf_counter() - t)
    sentences = built.manifest["counts"]["sentences"]
    index = build_index([document], embedder, settings, progress=False)
    retriever = Retriever(index, embedder)
    retrieval = []
    for _ in range(50):
        t = time.perf_counter()
        retriever.search("What did Lieberman say?", settings.top_k)
        retrieval.append(time.perf_counter() - t)

    conversations = evaluate.read_question_set(args.qa)
    results = []
    for conv in conversations:
        chat = Conversation(bot)
        for number, turn in enumerate(conv["turns"]):
            results.append(chat.ask(turn["question"]).to_result(conv["id"], number))
    metrics = evaluate.score(conversations, results, document.text)
    ttft = [r["ttft_s"] for r in results]
    latency = [r["latency_s"] for r in results]

    rows = [
        (
            "start-up to first answer (`open_bot` + `warm_up` + first `ask`, new process)",
            startup,
            None,
        ),
        ("time to first token, first question after start-up", first.ttft_s, None),
        ("time to first token over the dev set", statistics.median(ttft), _p(ttft, 0.95)),
        ("whole answer over the dev set", statistics.median(latency), _p(latency, 0.95)),
        (
            "retrieval (embed + FAISS + BM25 + RRF), article",
            statistics.median(retrieval),
            _p(retrieval, 0.95),
        ),
        (
            f"index build, article x40 ({sentences} sentences)",
            statistics.median(build_times),
            max(build_times),
        ),
    ]
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    lines = [
        START,
        "## Speed and dev-set quality (`make bench`)",
        "",
        f"Written by `make bench` on {date.today()}: {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"model `{settings.model}`, {settings.threads} threads.",
        "",
        "| figure | median (s) | p95 (s) |",
        "|---|---|---|",
        *[f"| {name} | {m:.3f} | {'' if p is None else f'{p:.3f}'} |" for name, m, p in rows],
        "",
        f"Index build rate: {sentences / statistics.median(build_times):.0f} sentences/s "
        "(split, chunk, embed, FAISS and BM25).",
        "",
        f"Peak memory of the whole run (RSS): {peak_rss_gb:.2f} GB.",
        "",
        f"## Quality on `{args.qa.name}` (same run)",
        "",
        "```",
        evaluate.format_metrics(metrics),
        "```",
        END,
    ]
    atomic.write_text(args.out, replace_section(args.out, "\n".join(lines)))
    print("\n".join(lines))
    print(json.dumps({"written": str(args.out)}))


if __name__ == "__main__":
    main()
