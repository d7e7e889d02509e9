"""--llm-url: generation by an OpenAI-compatible server, here a tiny fake one on loopback."""

from __future__ import annotations

import json
import re
import socket

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from bot.answer import Bot
from bot.bench import stop
from bot.embed import HashingEmbedder
from bot.errors import BotError
from bot.index import build_index
from bot.llm import extractive_reply, load_llm
from bot.remote import RemoteLLM
from tests.conftest import running


def fake_openai_server(models=("tiny",), key: str = "") -> tuple[FastAPI, list[dict]]:
    """Streams the fake model's extractive reply word by word, as SSE chunks like OpenAI's."""
    app = FastAPI()
    received: list[dict] = []

    @app.get("/v1/models")
    def models_list(request: Request):
        if key and request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        received.append(body)
        if body["model"] == "broken":
            return JSONResponse({"error": {"message": "model exploded"}}, status_code=500)
        words = re.findall(r"\S+\s*", extractive_reply(body["messages"]))[: body["max_tokens"]]

        def events():
            yield ": ping\n\n"  # servers send comments to keep the connection open
            yield f"data: {json.dumps({'choices': [{'delta': {'role': 'assistant'}}]})}\n\n"
            for word in words:
                chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'choices': [{'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app, received


def test_the_bot_answers_through_the_server_with_its_own_sources(settings, tiny_doc):
    app, received = fake_openai_server()
    with running(app) as base:
        settings = settings.replace(llm_url=f"{base}/v1/")
        llm = load_llm(settings)
        assert isinstance(llm, RemoteLLM) and llm.model == "tiny"
        assert not hasattr(llm, "judge"), "no logits over HTTP: the bot must skip the judge"
        embedder = HashingEmbedder()
        bot = Bot(build_index([tiny_doc], embedder, settings), llm, embedder, settings)
        streamed = []
        answer = bot.ask("How many euros did it cost?", on_token=streamed.append)
    assert answer.answerable and "4 million euros" in answer.text
    assert len(streamed) > 1, "the answer must arrive in pieces, as the server streams it"
    assert answer.sources[0].text == "She said it cost 4 million euros."
    request = received[-1]
    assert request["stream"] is True and request["model"] == "tiny"
    assert request["max_tokens"] == settings.max_tokens
    assert request["temperature"] == settings.temperature
    assert "[2] She said it cost 4 million euros." in request["messages"][0]["content"]


def test_a_server_error_is_a_clear_bot_error(settings):
    app, _ = fake_openai_server(models=("broken",))
    with running(app) as base:
        llm = RemoteLLM(f"{base}/v1", settings)
        with pytest.raises(BotError, match=r"answered 500: model exploded"):
            list(llm.stream([{"role": "user", "content": "hi"}], max_tokens=5))


def test_several_served_models_need_a_choice(settings):
    app, _ = fake_openai_server(models=("a", "b"))
    with running(app) as base:
        with pytest.raises(BotError, match=r"several models \(a, b\)"):
            RemoteLLM(f"{base}/v1", settings)
        assert RemoteLLM(f"{base}/v1", settings.replace(model="b")).model == "b"


def test_the_api_key_is_sent_and_a_refusal_says_which_setting(settings):
    app, _ = fake_openai_server(key="s3cret")
    with running(app) as base:
        with pytest.raises(
            BotError, match=r"answered 401: invalid api key \(set BOT_LLM_API_KEY\)"
        ):
            RemoteLLM(f"{base}/v1", settings)
        assert RemoteLLM(f"{base}/v1", settings.replace(llm_api_key="s3cret")).model == "tiny"
    assert "s3cret" not in repr(settings.replace(llm_api_key="s3cret"))


def test_an_unreachable_server_is_a_clear_bot_error(settings):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BotError, match=r"cannot reach the model server at http://127\.0\.0\.1"):
        load_llm(settings.replace(llm_url=f"http://127.0.0.1:{port}/v1"))


def test_a_url_without_a_scheme_is_refused(settings):
    with pytest.raises(BotError, match="must start with http"):
        load_llm(settings.replace(llm_url="localhost:8000/v1"))


def test_cli_reports_an_unreachable_server_without_a_traceback(settings, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BOT_EMBEDDER", "hashing")
    monkeypatch.setenv("BOT_INDEX_DIR", str(settings.index_dir))
    result = CliRunner().invoke(
        main, ["ask", "--llm-url", f"http://127.0.0.1:{port}/v1", "What did Lieberman say?"]
    )
    assert result.exit_code == 1
    assert "Error: cannot reach the model server" in result.output
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_a_real_article_question_through_llama_cpp_server(tmp_path):
    """llama-cpp-python's own OpenAI-compatible server, on loopback, with the 0.5B model."""
    import subprocess
    import sys
    import time

    import httpx

    from bot.answer import open_bot
    from bot.models import resolve_chat_model
    from bot.settings import Settings
    from tests.conftest import ARTICLE

    settings = Settings.load(model="0.5b", index_dir=tmp_path / "index")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(resolve_chat_model("0.5b", settings.home)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(settings.n_ctx),
            "--n_threads",
            str(settings.threads),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,  # a file: llama.cpp's chatter would fill and block a pipe
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start in 3 minutes"
            time.sleep(0.5)
        bot = open_bot(settings.replace(llm_url=url), log=lambda message: None)
        assert isinstance(bot.llm, RemoteLLM)
        answer = bot.ask("What did Lieberman say?")
    finally:
        stop(server)
        log.close()
    text = ARTICLE.read_text(encoding="utf-8")
    assert answer.answerable, answer
    assert re.search(r"rethink|out of the box|security concept", answer.text, re.I), answer.text
    source = answer.sources[0]
    assert source.text.startswith("Rasmussen also met with Israel’s Foreign Minister")
    assert text[source.start : source.end] == source.text
