"""A bounded load test: 100 questions at concurrency 8 against /api/ask, real 0.5B model, loopback.

Every answer must be right for its own question (no mixed-up requests), with no error, and the
run must stop by itself. Latencies go to tests/artifacts/load.json and are printed.
"""

import json
import random
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from bot.answer import open_bot
from bot.settings import Settings
from tests.conftest import ARTICLE, ROOT, running

pytestmark = pytest.mark.integration

TEXT = ARTICLE.read_text(encoding="utf-8")
REQUESTS, CONCURRENCY = 100, 8
REQUEST_TIMEOUT_S = 600  # one request, queued behind seven others on a busy 2-core machine
RUN_TIMEOUT_S = 2400  # the whole run: then it stops, and fails, by itself

# question -> (pattern the answer must match, words the first source must hold); None: refusal
EXPECTED = {
    "What did Netanyahu insist on?": (r"security guarantee", "Netanyahu insists"),
    "What did Abbas say about peacekeepers?": (r"limited time|temporar", "Mahmoud Abbas"),
    "What did Lieberman say?": (r"rethink", "Avigdor Lieberman"),
    "What would NATO offer Israelis and Palestinians?": (r"peacekeeping", "peacekeeping services"),
    "Who is the NATO Secretary-General in the article?": (r"rasmussen", "Secretary-General Anders"),
    "What is the boiling point of water?": None,
}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from bot.server import create_app

    # One client address sends all 100 requests: no rate limit here.
    settings = Settings.load(model="0.5b", index_dir=tmp_path_factory.mktemp("index"), rate_limit=0)
    bot = open_bot(settings, log=lambda message: None)
    bot.warm_up()
    with running(create_app(bot, "0.5b")) as base:
        yield base


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def test_100_questions_at_concurrency_8(url):
    import httpx

    questions = [list(EXPECTED)[i % len(EXPECTED)] for i in range(REQUESTS)]
    random.Random(6).shuffle(questions)

    def ask(client, question):
        started = time.perf_counter()
        reply = client.post(f"{url}/api/ask", json={"question": question})
        return question, reply.status_code, reply.json(), time.perf_counter() - started

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=CONCURRENCY)
    with (
        httpx.Client(timeout=REQUEST_TIMEOUT_S, limits=limits) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        futures = [pool.submit(ask, client, q) for q in questions]
        _, pending = wait(futures, timeout=RUN_TIMEOUT_S)
        for future in pending:
            future.cancel()
    total = time.perf_counter() - started
    assert not pending, f"{len(pending)} requests still unanswered after {RUN_TIMEOUT_S} s"

    results = [future.result() for future in futures]
    errors = [(q, status, line) for q, status, line, _ in results if status != 200]
    wrong = [(q, line) for q, status, line, _ in results if status == 200 and not right(q, line)]
    # A reply for another question, or an answer right for another one: a mixed-up request.
    mixed_up = [
        (q, line)
        for q, line in wrong
        if line["question"] != q
        or (
            line["answerable"] and any(right(o, line | {"question": o}) for o in EXPECTED if o != q)
        )
    ]
    latencies = [seconds for *_, seconds in results]
    server = [line["latency_s"] for _, status, line, _ in results if status == 200]
    figures = {
        "model": "0.5b",
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "distinct_questions": len(EXPECTED),
        "errors": len(errors),
        "wrong_answers": len(wrong),
        "wrongly_refused": sum(1 for _, line in wrong if not line["answerable"]),
        "mixed_up": len(mixed_up),
        "total_s": round(total, 1),
        "throughput_per_min": round(60 * REQUESTS / total, 1),
        "latency_p50_s": round(percentile(latencies, 0.50), 2),
        "latency_p95_s": round(percentile(latencies, 0.95), 2),
        "latency_max_s": round(max(latencies), 2),
        "answer_p50_s": round(statistics.median(server), 2) if server else None,
        "answer_p95_s": round(percentile(server, 0.95), 2) if server else None,
    }
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    replies = [
        {
            "question": q,
            "status": status,
            "answerable": line.get("answerable"),
            "answer": line.get("answer"),
            "first_source": (line.get("sources") or [{}])[0].get("text"),
            "note": line.get("note"),
            "seconds": round(seconds, 2),
        }
        for q, status, line, seconds in results
    ]
    report = {**figures, "replies": replies}
    (artifacts / "load.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("\nload test:", json.dumps(figures))
    assert errors == [], errors[:3]
    assert mixed_up == [], mixed_up[:3]
    assert wrong == [], wrong[:3]


def right(question: str, line: dict) -> bool:
    """The answer is this question's own: its text, its flag and its first source."""
    if line["question"] != question:
        return False
    if any(TEXT[s["start"] : s["end"]] != s["text"] for s in line["sources"]):
        return False
    expected = EXPECTED[question]
    if expected is None:
        return not line["answerable"] and line["sources"] == []
    pattern, evidence = expected
    return (
        line["answerable"]
        and re.search(pattern, line["answer"], re.I) is not None
        and evidence in line["sources"][0]["text"]
    )
