"""The real embedder and the real 0.5B model: behaviour, not just plumbing."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from bot.answer import Conversation, open_bot
from bot.settings import Settings
from tests.conftest import ARTICLE, ROOT, SHARED

pytestmark = pytest.mark.integration
TEXT = ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    settings = Settings.load(model="0.5b", index_dir=tmp_path_factory.mktemp("index"))
    return open_bot(settings, log=lambda message: None)


def assert_exact(sources):
    for source in sources:
        assert TEXT[source.start : source.end] == source.text


def test_lieberman(bot):
    answer = bot.ask("What did Lieberman say?")
    assert answer.answerable
    assert re.search(r"rethink", answer.text, re.I)
    assert re.search(r"out of the box|security concept", answer.text, re.I)
    assert answer.sources[0].text.startswith("Rasmussen also met with Israel’s Foreign Minister")
    assert answer.sources[0].start == TEXT.index("Rasmussen also met with")
    assert_exact(answer.sources)


@pytest.mark.parametrize(
    "question, pattern, evidence",
    [
        (
            "Who is the NATO Secretary-General in the article?",
            r"rasmussen",
            "NATO Secretary-General Anders",
        ),
        ("What did Netanyahu insist on?", r"security guarantee", "Netanyahu insists"),
        ("What did Abbas say about peacekeepers?", r"limited time|temporar", "Mahmoud Abbas"),
    ],
)
def test_dev_questions_are_answered_from_the_right_sentence(bot, question, pattern, evidence):
    answer = bot.ask(question)
    assert answer.answerable and re.search(pattern, answer.text, re.I), answer.text
    assert evidence in answer.sources[0].text
    assert len(answer.sources) <= 3
    assert_exact(answer.sources)


def test_off_topic_question_is_refused(bot):
    answer = bot.ask("What is the boiling point of water?")
    assert not answer.answerable and answer.sources == []
    assert answer.text == "The article does not say."


def test_follow_up_keeps_the_subject(bot):
    chat = Conversation(bot)
    chat.ask("What did Netanyahu's spokesman say?")
    follow_up = chat.ask("Did he say whether Israel would accept the offer?")
    assert follow_up.answerable and re.search(r"would not say", follow_up.text, re.I)
    assert follow_up.sources[0].text.startswith("The spokesman would not say")


NO_NETWORK = textwrap.dedent("""
    import json, sys
    connections = []
    def watch(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
            connections.append(f"{event} {args!r}")
    sys.addaudithook(watch)
    from bot.cli import main
    try:
        main(["ask", "--json", "--model", "0.5b", "--index-dir", sys.argv[1],
              "What did Lieberman say?"])
    except SystemExit as exit:
        code = exit.code
    print("CONNECTIONS", json.dumps(connections))
""")


def test_answering_opens_no_network_connection(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[0])
    assert answer["answerable"] and "Lieberman" in answer["sources"][0]["text"]
    assert lines[-1] == "CONNECTIONS []", lines[-1]


def test_cli_ask_json_with_the_real_model(tmp_path):
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "bot"),
            "ask",
            "--json",
            "--model",
            "0.5b",
            "--index-dir",
            str(tmp_path),
            "What would NATO offer Israelis and Palestinians?",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["answerable"] and "peacekeeping" in line["answer"].lower()
    assert (
        TEXT[line["sources"][0]["start"] : line["sources"][0]["end"]] == line["sources"][0]["text"]
    )
    assert "Traceback" not in done.stderr


def test_eight_concurrent_api_clients_with_the_real_model(bot):
    """llama.cpp is not thread-safe: requests must queue, and each get its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from bot.server import create_app

    expected = {
        "What did Netanyahu insist on?": "Netanyahu insists",
        "What did Abbas say about peacekeepers?": "Mahmoud Abbas",
        "What did Lieberman say?": "Avigdor Lieberman",
        "What would NATO offer Israelis and Palestinians?": "peacekeeping services",
    }
    with TestClient(create_app(bot, "0.5b")) as client, ThreadPoolExecutor(8) as pool:
        lines = list(
            pool.map(
                lambda q: client.post("/api/ask", json={"question": q}).json(), list(expected) * 2
            )
        )
    for line in lines:
        assert line["answerable"], line
        assert expected[line["question"]] in line["sources"][0]["text"], line
        assert_exact_dicts(line["sources"])


def assert_exact_dicts(sources):
    for source in sources:
        assert TEXT[source["start"] : source["end"]] == source["text"]


# Measured on 2026-11-27 with the 0.5B model, after issue 4's second pass: answer_accuracy
# 0.733 (11 of 15), refusal_accuracy 1.000 (3 of 3). The floors leave room for one more miss
# each: 10 of 15 and 2 of 3. (The old floor, 0.73, was set when 0.800 was measured; the
# 0.5B already gave 0.733 at the start of that pass, which left no room at all.)
FLOORS = {"answer_accuracy": 0.66, "refusal_accuracy": 0.66}


@pytest.mark.skipif(not (SHARED / "data").exists(), reason="needs ../shared")
def test_dev_article_set_stays_above_its_measured_floor(bot, tmp_path):
    from bot import evaluate

    qa = SHARED / "data" / "article_qa_dev.jsonl"
    conversations = evaluate.read_question_set(qa)
    results = evaluate.run(conversations, lambda: bot, None, tmp_path / "r.jsonl", progress=False)
    metrics = evaluate.score(conversations, results, TEXT)
    assert metrics["offset_mismatches"] == 0
    for name, floor in FLOORS.items():
        assert metrics[name] >= floor, (name, metrics)


def test_saved_prompt_state_is_restored_and_a_damaged_one_is_not_trusted(bot, tmp_path):
    from bot.llm import LlamaCppLLM

    bot.warm_up()
    state = tmp_path / "prefix.npz"
    bot.llm.save_state(state)
    assert 0 < state.stat().st_size < 100_000_000, "no per-token logits in the file"
    fresh = LlamaCppLLM(bot.llm.name, bot.settings)
    assert fresh.load_state(state)
    original, bot.llm = bot.llm, fresh
    try:
        answer = bot.ask("What did Netanyahu insist on?")
        assert answer.answerable and "security guarantees" in answer.text
        state.write_bytes(state.read_bytes()[:1000])
        assert not fresh.load_state(state) and not state.exists()
        again = bot.ask("What did Netanyahu insist on?")
        assert again.text == answer.text
    finally:
        bot.llm = original
