"""The HTTP API and the Gradio API over the real pipeline, with the fake model for speed."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from bot.server import create_app
from tests.conftest import ARTICLE, make_bot, running

TEXT = ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    from bot.documents import load_document
    from bot.settings import Settings

    settings = Settings(
        index_dir=tmp_path_factory.mktemp("index"), model="fake", embedder="hashing"
    )
    return make_bot(settings, load_document(ARTICLE))


@pytest.fixture(scope="module")
def client(bot):
    app = create_app(bot, "fake", allowed_origins=["http://intranet.example"])
    with TestClient(app) as test_client:
        yield test_client


def test_api_ask_returns_a_results_line(client):
    reply = client.post("/api/ask", json={"question": "Which foreign minister did Rasmussen meet?"})
    assert reply.status_code == 200
    line = reply.json()
    assert line["answerable"] and "Lieberman" in line["sources"][0]["text"]
    source = line["sources"][0]
    assert TEXT[source["start"] : source["end"]] == source["text"]


def test_api_ask_takes_history(client, bot):
    history = [{"question": "Who is Lieberman?", "answer": "Israel's Foreign Minister."}]
    client.post("/api/ask", json={"question": "What did he say?", "history": history})
    messages = bot.llm.calls[-1]
    assert messages[1] == {"role": "user", "content": "Who is Lieberman?"}


@pytest.mark.parametrize(
    "body, status",
    [
        ({"question": ""}, 400),
        ({"question": 42}, 422),
        ({}, 422),
        ({"history": "x"}, 422),
    ],
)
def test_bad_requests_get_clear_errors(client, body, status):
    reply = client.post("/api/ask", json=body)
    assert reply.status_code == status
    assert "Traceback" not in reply.text


def test_malformed_json_is_a_422(client):
    reply = client.post(
        "/api/ask", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422


def test_openai_compatible_plain(client):
    reply = client.post(
        "/v1/chat/completions",
        json={
            "model": "anything",
            "messages": [{"role": "user", "content": "What did Netanyahu insist on?"}],
        },
    )
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert "security guarantees" in body["choices"][0]["message"]["content"]
    assert body["sources"][0]["text"].startswith("Netanyahu insists")


def test_openai_compatible_streamed(client):
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "stream": True,
            "messages": [{"role": "user", "content": "What did Netanyahu insist on?"}],
        },
    ) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "security guarantees" in text and len(chunks) > 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["sources"][0]["text"].startswith("Netanyahu insists")


def test_openai_request_must_end_with_a_user_message(client):
    reply = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "Hi"}]}
    )
    assert reply.status_code == 400 and "last message" in reply.json()["error"]


def test_cors_and_framing_allow_only_the_listed_origins(client):
    allowed = client.options(
        "/api/ask",
        headers={"Origin": "http://intranet.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://intranet.example"
    denied = client.options(
        "/api/ask",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers
    page = client.get("/")
    assert page.status_code == 200
    assert (
        page.headers["content-security-policy"] == "frame-ancestors 'self' http://intranet.example"
    )


def test_eight_concurrent_clients_get_their_own_answers(client):
    questions = {
        "What did Netanyahu insist on?": "Netanyahu insists",
        "Which foreign minister did Rasmussen meet?": "Lieberman",
        "What did Abbas agree to have deployed?": "Mahmoud Abbas",
        "How many Mediterranean activities will there be?": "1600",
    }
    asks = list(questions) * 2

    def ask(question):
        return question, client.post("/api/ask", json={"question": question}).json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, asks))
    assert len(results) == 8
    for question, line in results:
        assert line["question"] == question
        assert questions[question] in line["sources"][0]["text"], (question, line)


def test_gradio_client_calls_the_ask_endpoint(bot):
    from gradio_client import Client

    with running(create_app(bot, "fake")) as url:
        line = Client(url + "/", verbose=False).predict(
            "What did Netanyahu insist on?", [], api_name="/ask"
        )
    assert line["answerable"] and line["sources"][0]["text"].startswith("Netanyahu insists")


CONNECTIONS: list = []
WATCHING: list = []


def _watch_connections(event, args):
    if WATCHING and event in ("socket.connect", "socket.getaddrinfo"):
        CONNECTIONS.append((event, repr(args)[:200]))


def test_the_app_phones_no_one(bot):
    """Build the app, load the page and answer, watching every socket the process opens."""
    import sys
    import time

    sys.addaudithook(_watch_connections)
    WATCHING.append(True)
    try:
        with TestClient(create_app(bot, "fake")) as local:  # in-process: no socket of its own
            assert local.get("/").status_code == 200
            assert local.post(
                "/api/ask", json={"question": "What did Netanyahu insist on?"}
            ).json()["answerable"]
            time.sleep(1)  # give any background "telemetry" thread its chance
    finally:
        WATCHING.clear()
    assert CONNECTIONS == []
