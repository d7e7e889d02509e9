"""`make bench`: measure start-up, answer speed, the bot against raw llama.cpp, retrieval at
scale and index build; write the figures into BENCHMARKS.md.

Benchmarks are not tests: they report figures, they do not assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from bot import atomic
from bot.settings import Settings

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SHARED = Path("../shared")
SCALE_SIZES = (1_000, 10_000, 100_000)
RETRIEVAL_QUERIES = 60  # timed searches per size
RECALL_DEPTH = 50  # what retrieval asks FAISS for (max(4 k, 50))


def replace_section(path: Path, section: str, start: str = START, end: str = END) -> str:
    """The file with its bench section replaced, so hand-written notes around it survive."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        return text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def _p(values: Sequence[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _med(values: Sequence[float]) -> float:
    return statistics.median(values)


class Recorder:
    """Wraps the bot's model: records each `stream` call's messages and when each piece came.

    The pieces are timed as the bot pulls them, so the bot's own work per piece is inside.
    Everything else (`judge`, saved states, `llama`) is the wrapped model's.
    """

    def __init__(self, llm):
        self.llm = llm
        self.calls: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.llm, name)

    def stream(self, messages, max_tokens, stop=None):
        call = {"messages": messages, "max_tokens": max_tokens, "times": [], "text": ""}
        self.calls.append(call)
        for piece in self.llm.stream(messages, max_tokens, stop):
            call["times"].append(time.perf_counter())
            call["text"] += piece
            yield piece


def _rate(times: Sequence[float]) -> float | None:
    """Tokens per second after the first token."""
    if len(times) < 3 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def bot_vs_raw(bot, recorder: Recorder, turns: list[dict]) -> dict:
    """The same turns answered by the bot and by llama.cpp alone on the bot's own messages.

    Before each run the model is put back into the same state (the article's prompt prefix,
    as after start-up), and the order alternates, so neither side inherits a warmer cache.
    """
    llama = recorder.llm.llama
    rows = []
    for n, turn in enumerate(turns):
        runs = {}
        for side in ("bot", "raw") if n % 2 == 0 else ("raw", "bot"):
            bot.warm_up()
            if side == "bot":
                recorder.calls.clear()
                started = time.perf_counter()
                shown = None
                for event in bot.stream(turn["question"], turn["history"]):
                    if shown is None and isinstance(event, str):
                        shown = time.perf_counter() - started
                call = recorder.calls[0]
                runs["bot"] = {
                    "ttft": call["times"][0] - started if call["times"] else None,
                    "shown": shown,
                    "rate": _rate(call["times"]),
                    "text": call["text"],
                    "messages": call["messages"],
                }
            else:
                times, text = [], ""
                started = time.perf_counter()
                for chunk in llama.create_chat_completion(
                    messages=turn["messages"],
                    max_tokens=turn["max_tokens"],
                    temperature=bot.settings.temperature,
                    stop=[],
                    stream=True,
                ):
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        times.append(time.perf_counter())
                        text += piece
                runs["raw"] = {
                    "ttft": times[0] - started if times else None,
                    "rate": _rate(times),
                    "text": text,
                }
        runs["same_prompt"] = runs["bot"]["messages"] == turn["messages"]
        rows.append(runs)
    pairs = [r for r in rows if r["bot"]["ttft"] and r["raw"]["ttft"]]
    rated = [r for r in rows if r["bot"]["rate"] and r["raw"]["rate"]]
    out = {
        "turns": len(rows),
        "same_prompt": sum(r["same_prompt"] for r in rows),
        "same_text": sum(r["bot"]["text"] == r["raw"]["text"] for r in rows),
        "bot_ttft": [r["bot"]["ttft"] for r in pairs],
        "raw_ttft": [r["raw"]["ttft"] for r in pairs],
        "bot_rate": [r["bot"]["rate"] for r in rated],
        "raw_rate": [r["raw"]["rate"] for r in rated],
        "shown": [r["bot"]["shown"] for r in rows if r["bot"]["shown"] is not None],
    }
    return out


# -- retrieval at scale ------------------------------------------------------------------


def sentence_pool(document_text: str, qa_paths: Sequence[Path]) -> list[str]:
    """Real sentences to build synthetic chunks from: the article and the contexts of the QA
    sets at hand, so that words and vectors are distributed like real text."""
    from bot.sentences import split_sentences

    texts = [document_text]
    for path in qa_paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                context = json.loads(line).get("context") if line.strip() else None
                if context and context not in texts:
                    texts.append(context)
    return list(dict.fromkeys(s.text for t in texts for s in split_sentences(t)))


def synthetic_index(size: int, pool_vectors, pool_tokens, pool_weights, rng, flat_too: bool):
    """`size` chunks of 3 random pool sentences, vectors and BM25 made as build_index makes
    them; and, when asked, the flat index over the same vectors for recall."""
    import bm25s
    import faiss

    from bot.chunks import Chunk
    from bot.index import Index, vector_index

    picks = rng.integers(0, len(pool_tokens), size=(size, 3))
    weighted = pool_vectors * pool_weights[:, None]
    vectors = weighted[picks].sum(axis=1)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    dense = vector_index(vectors)
    dense_build = time.perf_counter() - started
    bm25 = bm25s.BM25()
    corpus = [[t for j in row for t in pool_tokens[j]] or ["\x00"] for row in picks]
    bm25.index(corpus, show_progress=False)
    chunks = [Chunk("synthetic", (i,), 0, 0, "") for i in range(size)]
    index = Index({}, chunks, dense, bm25, {})
    flat = None
    if flat_too and not isinstance(dense, faiss.IndexFlatIP):
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
    return index, flat, dense_build


def retrieval_at_scale(embedder, pool: list[str], queries: list[str], sizes, top_k: int):
    from bot.index import Index, tokenize
    from bot.retrieve import Retriever

    pool_vectors = embedder.encode(pool)
    pool_tokens = tokenize(pool)
    counts = getattr(embedder, "token_counts", lambda texts: [len(t.split()) for t in texts])
    pool_weights = np.maximum(np.asarray(counts(pool), dtype=np.float32), 1.0)
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        index, flat, dense_build = synthetic_index(
            size, pool_vectors, pool_tokens, pool_weights, rng, flat_too=True
        )
        retriever = Retriever(index, embedder)
        retriever.search(queries[0], top_k)  # first-call costs are not per query
        times = []
        for n in range(RETRIEVAL_QUERIES):
            started = time.perf_counter()
            retriever.search(queries[n % len(queries)], top_k)
            times.append(time.perf_counter() - started)
        row = {
            "size": size,
            "kind": type(index.vectors).__name__,
            "p50": _med(times),
            "p95": _p(times, 0.95),
            "dense_build": dense_build,
        }
        if flat is not None:  # HNSW: how much of flat's answer does it find?
            exact = Retriever(Index({}, index.chunks, flat, index.bm25, {}), embedder)
            vectors = embedder.encode(queries)
            deep = min(RECALL_DEPTH, size)
            found = retriever.dense_ranking(vectors, deep)
            truth = exact.dense_ranking(vectors, deep)
            row["recall_depth"] = statistics.mean(
                [len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]
            )
            row["recall_k"] = statistics.mean(
                [
                    len(set(a[:top_k]) & set(b[:top_k])) / top_k
                    for a, b in zip(found, truth, strict=True)
                ]
            )
            fused_same = [
                [h.chunk_id for h in retriever.search(q, top_k)]
                == [h.chunk_id for h in exact.search(q, top_k)]
                for q in queries
            ]
            row["fused_same"] = sum(fused_same) / len(fused_same)
        rows.append(row)
    return rows


# -- index build -------------------------------------------------------------------------


def build_rate(document_text: str, embedder, settings: Settings, copies: int, repeat: int):
    from bot.documents import document_from_text
    from bot.index import build_index

    big = document_from_text("\n".join([document_text] * copies), doc_id="bench")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        built = build_index([big], embedder, settings, progress=False)
        times.append(time.perf_counter() - started)
    sentences = built.manifest["counts"]["sentences"]
    return sentences, times


def stop(process, grace: float = 30) -> None:
    """Ask a child process to end; kill it if it has not within `grace` seconds."""
    import subprocess

    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cli_ask_seconds(settings: Settings) -> float:
    """Wall clock of `bot ask --json` in a new process, as a user runs it."""
    import subprocess
    import sys

    command = "from bot.cli import main; main()"
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            command,
            "ask",
            "--json",
            "--model",
            settings.model,
            "--index-dir",
            str(settings.index_dir),
            "--doc",
            str(settings.doc),
            "What did Lieberman say?",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def cli_serve_seconds(settings: Settings) -> float | None:
    """Wall clock from `bot serve` in a new process to its first answer over /api/ask."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = "from bot.cli import main; main()"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--model", settings.model]
    args += ["--index-dir", str(settings.index_dir), "--doc", str(settings.doc)]
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-c", command, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while time.perf_counter() - started < 600 and server.poll() is None:
            try:
                if httpx.get(base + "/", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            return None
        question = {"question": "What did Lieberman say?"}
        reply = httpx.post(base + "/api/ask", json=question, timeout=600)
        return time.perf_counter() - started if reply.status_code == 200 else None
    finally:
        stop(server)


# -- the report --------------------------------------------------------------------------


def machine_line(settings: Settings, model_name: str) -> str:
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Written by `make bench` on {date.today()}: {cpu}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores (load average {load:.1f} at the end of the run), "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"(threads {torch.get_num_threads()}), chat model `{model_name}`, "
        f"{settings.threads} llama.cpp threads, embedder `{settings.embedder}`."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qa", type=Path, default=SHARED / "data" / "article_qa_dev.jsonl")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SCALE_SIZES),
        help="synthetic index sizes (chunks) for the retrieval figures",
    )
    parser.add_argument("--copies", type=int, default=40, help="article copies to index")
    parser.add_argument("--repeat", type=int, default=3, help="index builds to time")
    args = parser.parse_args(argv)
    settings = Settings.load(model=args.model)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    from bot import evaluate
    from bot.answer import Conversation, open_bot
    from bot.documents import load_document
    from bot.index import build_index
    from bot.llm import load_llm
    from bot.prompt import Turn
    from bot.retrieve import Retriever

    started = time.perf_counter()
    recorder = Recorder(load_llm(settings))
    bot = open_bot(settings, llm=recorder, log=lambda message: None)
    bot.warm_up()  # as `bot ask` does: restores the saved prompt state when there is one
    first = bot.ask("What did Lieberman say?")
    startup = time.perf_counter() - started

    # The dev set, as a user would ask it; each turn's prompt is kept for the raw comparison.
    conversations = evaluate.read_question_set(args.qa)
    document = load_document(settings.doc)
    results, turns = [], []
    for conv in conversations:
        chat = Conversation(bot)
        for number, turn in enumerate(conv["turns"]):
            history = [Turn(t.question, t.answer) for t in chat.turns]
            recorder.calls.clear()
            results.append(chat.ask(turn["question"]).to_result(conv["id"], number))
            if recorder.calls:
                call = recorder.calls[0]
                turns.append(
                    {
                        "question": turn["question"],
                        "history": history,
                        "messages": call["messages"],
                        "max_tokens": call["max_tokens"],
                    }
                )
    metrics = evaluate.score(conversations, results, document.text)
    ttft = [r["ttft_s"] for r in results]
    latency = [r["latency_s"] for r in results]
    side = bot_vs_raw(bot, recorder, turns) if hasattr(recorder.llm, "llama") else None
    bot_rss_gb = _peak_rss_gb()  # the bot's own use, before the synthetic indexes below

    embedder = bot.embedder
    index = build_index([document], embedder, settings, progress=False)
    retriever = Retriever(index, embedder)
    article_retrieval = []
    for _ in range(50):
        t = time.perf_counter()
        retriever.search("What did Lieberman say?", settings.top_k)
        article_retrieval.append(time.perf_counter() - t)
    qa_paths = [
        args.qa,
        SHARED / "data" / "squad_complexity_dev.jsonl",
        SHARED / "benchmarks" / "external_qa.jsonl",
    ]
    pool = sentence_pool(document.text, qa_paths)
    queries = [t["question"] for c in conversations for t in c["turns"]]
    scale = retrieval_at_scale(embedder, pool, queries, sizes, settings.top_k)
    sentences, build_times = build_rate(document.text, embedder, settings, args.copies, args.repeat)
    ask_end_to_end = cli_ask_seconds(settings)
    serve_end_to_end = cli_serve_seconds(settings)

    rows = [
        (
            "start-up to first answer (`open_bot` + `warm_up` + first `ask`, new process)",
            startup,
            None,
        ),
        ("time to first token, first question after start-up", first.ttft_s, None),
        ("time to first token over the dev set", _med(ttft), _p(ttft, 0.95)),
        ("whole answer over the dev set", _med(latency), _p(latency, 0.95)),
        (
            "retrieval (embed + FAISS + BM25 + RRF), article",
            _med(article_retrieval),
            _p(article_retrieval, 0.95),
        ),
        (
            f"index build, article x{args.copies} ({sentences} sentences)",
            _med(build_times),
            _p(build_times, 0.95),
        ),
        (
            "`bot ask --json` end to end, new process (imports, models, index, answer)",
            ask_end_to_end,
            None,
        ),
    ]
    if serve_end_to_end is not None:
        rows.append(
            (
                "`bot serve` to its first answer over `/api/ask`, new process",
                serve_end_to_end,
                None,
            )
        )
    lines = [
        START,
        "## Speed and dev-set quality (`make bench`)",
        "",
        machine_line(settings, recorder.name),
        "",
        "| figure | median (s) | p95 (s) |",
        "|---|---|---|",
        *[f"| {name} | {m:.3f} | {'' if p is None else f'{p:.3f}'} |" for name, m, p in rows],
        "",
        f"Index build rate: {sentences / _med(build_times):.0f} sentences/s "
        f"(median of {len(build_times)} builds; split, chunk, embed, FAISS and BM25).",
        "",
        f"Peak memory (RSS) of the bot (start-up, dev set, the side-by-side runs): "
        f"{bot_rss_gb:.2f} GB; of the whole run, synthetic indexes included: "
        f"{_peak_rss_gb():.2f} GB.",
        "",
        *_side_by_side_lines(side),
        "",
        "### Retrieval at scale (synthetic chunks)",
        "",
        "Chunks of 3 random real sentences (the article and the QA sets' contexts, "
        f"{len(pool)} sentences), vectors and BM25 made as the index makes them; the dev set's "
        f"questions as queries, embedded each time; top {settings.top_k}, "
        f"{RETRIEVAL_QUERIES} searches per size.",
        "",
        "| chunks | FAISS index | retrieval p50 (ms) | p95 (ms) | vector index build (s) "
        f"| HNSW mean recall of flat's top {RECALL_DEPTH} / top {settings.top_k} "
        f"| fused top {settings.top_k} same as with flat |",
        "|---|---|---|---|---|---|---|",
        *[_scale_line(row) for row in scale],
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


def _side_by_side_lines(side: dict | None) -> list[str]:
    if side is None:
        return ["Bot against raw llama.cpp: not measured (the model is not llama.cpp here)."]
    if not side["bot_ttft"]:
        return ["Bot against raw llama.cpp: no turn produced a token."]
    bt, rt = side["bot_ttft"], side["raw_ttft"]
    lines = [
        "### The bot against raw llama.cpp, side by side",
        "",
        f"The dev set's {side['turns']} turns, each answered by the bot and by "
        "`Llama.create_chat_completion` alone on the messages the bot built "
        f"(identical for {side['same_prompt']} of {side['turns']}), same model object, same "
        "settings, streamed; the model is restored to the article's prompt prefix before every "
        f"run and the order alternates. Same reply text: {side['same_text']} of "
        f"{side['turns']}.",
        "",
        "| figure | bot median | bot p95 | raw median | raw p95 | bot / raw (medians) |",
        "|---|---|---|---|---|---|",
        f"| time to first token (s) | {_med(bt):.3f} | {_p(bt, 0.95):.3f} | {_med(rt):.3f} "
        f"| {_p(rt, 0.95):.3f} | {_med(bt) / _med(rt):.3f} |",
    ]
    if side["bot_rate"]:
        br, rr = side["bot_rate"], side["raw_rate"]
        lines.append(
            f"| generation (tokens/s) | {_med(br):.1f} | {_p(br, 0.05):.1f} (p5) | {_med(rr):.1f} "
            f"| {_p(rr, 0.05):.1f} (p5) | {_med(rr) / _med(br):.3f} (time per token) |"
        )
    shown = side["shown"]
    if shown:
        lines += [
            "",
            f"What the user sees first arrives {_med(shown):.3f} s (p95 {_p(shown, 0.95):.3f} s) "
            "after the question: the bot holds back citation marks, and a refusal is shown "
            "only once checked.",
        ]
    return lines


def _scale_line(row: dict) -> str:
    recall = fused = ""
    if "recall_depth" in row:
        recall = f"{row['recall_depth']:.3f} / {row['recall_k']:.3f}"
        fused = f"{row['fused_same']:.0%}"
    return (
        f"| {row['size']:,} | {row['kind']} | {row['p50'] * 1000:.1f} | {row['p95'] * 1000:.1f} "
        f"| {row['dense_build']:.1f} | {recall} | {fused} |"
    )


# -- a collection at scale ---------------------------------------------------------------

COLLECTION_START = "<!-- bench-collection:start -->"
COLLECTION_END = "<!-- bench-collection:end -->"
_FIRST = (
    "Anna Ben Carla David Elena Farid Greta Hugo Ines Jonas Kira Liam Maya Nils Olga Pavel "
    "Rosa Samir Tara Umar Vera Wim Yara Zoltan Amira Bruno Chloe Dmitri Esme Felix"
).split()
_LAST = (
    "Alvarez Berger Costa Dahl Eriksen Fischer Garcia Horvat Ivanova Jensen Kowalski Larsen "
    "Moreau Novak Okafor Petrov Quinn Rossi Schmidt Tanaka Urban Vidal Weber Young Zhang"
).split()
_PLACES = (
    "Lisbon Tallinn Krakow Bergen Lyon Porto Ghent Turku Graz Split Bilbao Malmo Utrecht Brno "
    "Aarhus Cork Riga Vilnius Ljubljana Salzburg Tampere Gdansk Seville Bologna Leipzig"
).split()
_ORGS = [
    "the city council",
    "the port authority",
    "the national rail company",
    "the health ministry",
    "the teachers' union",
    "the central bank",
    "the water board",
    "the football federation",
    "the energy regulator",
    "the university hospital",
    "the chamber of commerce",
    "the transport agency",
    "the environment agency",
    "the farmers' association",
]
_THINGS = [
    "the new tram line",
    "the harbour expansion",
    "the school reform",
    "the flood barrier",
    "the hospital wing",
    "the bridge repairs",
    "the wind farm",
    "the housing plan",
    "the budget cuts",
    "the airport terminal",
    "the cycling network",
    "the museum extension",
]
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_TEMPLATES = [
    "{name}, who leads {org}, said on {day} that {thing} would cost {n} million euros.",
    "Work on {thing} in {place} is expected to finish in {month} {year}.",
    "{name} told reporters in {place} that {org} had received {n} complaints since {month}.",
    "According to {org}, about {n},{m:03d} people used {thing} in its first {k} weeks.",
    "Critics, led by {name}, called {thing} late and {n} percent over budget.",
    "On {day}, {org} voted {k} to {j} to delay {thing} until {month}.",
    "{name} of {org} said the decision was {adjective}, but declined to give details.",
    "The plan for {thing} was first proposed in {year} by {name}.",
    "Residents of {place} will be able to comment on {thing} until {day} {k} {month}.",
    "{org} estimates that {thing} will create {n} jobs in {place} over {k} years.",
    "Asked about the cost, {name} said {org} would publish the figures in {month}.",
    "A survey by {org} found that {n} percent of residents in {place} support {thing}.",
]
_ADJECTIVES = "difficult necessary overdue premature sensible regrettable historic".split()


def synthetic_news(rng, chars: int) -> tuple[str, str]:
    """A made-up news story of about `chars` characters: a title line, then paragraphs."""
    place, thing = rng.choice(_PLACES), rng.choice(_THINGS)
    title = f"{place}: new row over {thing.removeprefix('the ')}"
    paragraphs, length, paragraph = [], len(title), []
    while length < chars:
        sentence = rng.choice(_TEMPLATES).format(
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            org=rng.choice(_ORGS),
            thing=thing if rng.random() < 0.6 else rng.choice(_THINGS),
            place=place if rng.random() < 0.7 else rng.choice(_PLACES),
            day=rng.choice(_DAYS),
            month=rng.choice(_MONTHS),
            year=rng.randrange(1990, 2027),
            n=rng.randrange(2, 990),
            m=rng.randrange(0, 1000),
            k=rng.randrange(2, 30),
            j=rng.randrange(1, 9),
            adjective=rng.choice(_ADJECTIVES),
        )
        paragraph.append(sentence[0].upper() + sentence[1:])
        length += len(sentence) + 1
        if len(paragraph) == rng.randrange(2, 5):
            paragraphs.append(" ".join(paragraph))
            paragraph = []
    if paragraph:
        paragraphs.append(" ".join(paragraph))
    return title, title + "\n\n" + "\n\n".join(paragraphs) + "\n"


def _index_process(folder: Path, index_dir: Path) -> tuple[float, float, str]:
    """`bot index FOLDER` in a new process: wall clock, its peak RSS (GB), its last line."""
    import subprocess
    import sys

    command = ["index", str(folder), "--index-dir", str(index_dir)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return seconds, peak_gb, done.stdout.strip().splitlines()[0]


def collection_at_scale(documents: int, chars: int, changed: int, workdir: Path) -> dict:
    """Index `documents` synthetic stories, change some and index again, then search."""
    import random

    from bot.documents import load_documents
    from bot.embed import embedder_for
    from bot.index import collection_directory, open_index
    from bot.retrieve import Retriever

    rng = random.Random(7)
    folder = workdir / "news"
    for number in range(documents):
        _, text = synthetic_news(rng, chars)
        path = folder / f"{number // 1000:02d}" / f"story-{number:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    index_dir = workdir / "index"
    first_s, first_rss, first_line = _index_process(folder, index_dir)
    for number in rng.sample(range(documents), changed):
        path = folder / f"{number // 1000:02d}" / f"story-{number:05d}.txt"
        path.write_text(path.read_text(encoding="utf-8") + "A correction was added.\n")
    again_s, _, _ = _index_process(folder, index_dir)

    settings = Settings.load(docs=str(folder), index_dir=index_dir)
    embedder = embedder_for(settings)
    loaded = load_documents(settings.sources)
    started = time.perf_counter()
    index = open_index(
        loaded, embedder, settings, collection_directory(settings), log=print, progress=False
    )
    load_s = time.perf_counter() - started
    retriever = Retriever(index, embedder)
    picks = rng.sample(loaded, RETRIEVAL_QUERIES)
    times, found = [], 0
    for document in picks:
        sentence = rng.choice(index.documents[document.id].sentences[1:]).text
        query = " ".join(sentence.split()[:9]) + "?"
        t = time.perf_counter()
        hits = retriever.search(query, settings.top_k)
        times.append(time.perf_counter() - t)
        found += any(hit.chunk.doc_id == document.id for hit in hits)
    counts = index.manifest["counts"]
    return {
        "documents": counts["documents"],
        "sentences": counts["sentences"],
        "chunks": counts["chunks"],
        "chars": sum(len(d.text) for d in loaded),
        "first_s": first_s,
        "first_rss_gb": first_rss,
        "first_line": first_line,
        "changed": changed,
        "again_s": again_s,
        "load_s": load_s,
        "retrieval_p50_ms": _med(times) * 1000,
        "retrieval_p95_ms": _p(times, 0.95) * 1000,
        "found_in_top": found / len(picks),
        "faiss": type(index.vectors).__name__,
    }


def collection_section(row: dict, settings: Settings) -> str:
    rate = row["sentences"] / row["first_s"]
    return "\n".join(
        [
            COLLECTION_START,
            "## A collection at scale (`make bench-collection`)",
            "",
            machine_line(settings, "no chat model"),
            "",
            f"{row['documents']:,} made-up news stories of about "
            f"{row['chars'] // row['documents']:,} characters ({row['chars'] / 1e6:.1f} MB, "
            f"{row['sentences']:,} sentences, {row['chunks']:,} chunks), written as .txt files "
            "in folders of 1,000; `bot index FOLDER` in a new process.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| first `bot index` (read, split, embed, FAISS, BM25, save) | "
            f"{row['first_s']:.0f} s ({row['first_s'] / 60:.1f} min), {rate:.0f} sentences/s |",
            f"| peak memory (RSS) of the indexing process | {row['first_rss_gb']:.2f} GB |",
            f"| `bot index` again after changing {row['changed']} stories | "
            f"{row['again_s']:.0f} s |",
            f"| opening the stored index (read and hash the files, load) | {row['load_s']:.1f} s |",
            f"| retrieval p50 / p95 ({RETRIEVAL_QUERIES} queries, {row['faiss']}) | "
            f"{row['retrieval_p50_ms']:.1f} / {row['retrieval_p95_ms']:.1f} ms |",
            f"| queries (a sentence's first 9 words) whose story is in the top "
            f"{settings.top_k} chunks | {row['found_in_top']:.0%} |",
            "",
            COLLECTION_END,
        ]
    )


def collection_main(argv: Sequence[str] | None = None) -> None:
    import tempfile

    parser = argparse.ArgumentParser(description="Index a synthetic collection; report figures.")
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=3_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as workdir:
        row = collection_at_scale(args.documents, args.chars, args.changed, Path(workdir))
    section = collection_section(row, Settings.load())
    atomic.write_text(
        args.out, replace_section(args.out, section, COLLECTION_START, COLLECTION_END)
    )
    print(section)
    print(json.dumps(row))


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["collection"]:
        collection_main(sys.argv[2:])
    else:
        main()
