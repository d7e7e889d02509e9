"""The CLI end to end with the fake model and hashing embedder: fast, but every layer real."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import ARTICLE, SHARED, run_cli

run = run_cli


def test_ask_json_prints_one_results_line(env):
    result = run("ask", "--json", "What did Lieberman say?")
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip())
    assert line["answerable"] is True
    text = ARTICLE.read_text(encoding="utf-8")
    for source in line["sources"]:
        assert text[source["start"] : source["end"]] == source["text"]
    assert "Lieberman" in line["sources"][0]["text"]
    assert set(line) >= {"question", "answer", "answerable", "sources", "latency_s", "ttft_s"}


def test_ask_streams_answer_then_sources(env):
    result = run("ask", "Which foreign minister did Rasmussen meet with?")
    assert result.exit_code == 0
    assert "Sources:" in result.stdout and "[1082:1297]" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "--doc", "/no/such/file.txt", "Hi?"], "does not exist"),
        (["ask", "--doc", "/tmp", "Hi?"], "is a directory"),
        (["ask", "   "], "question is empty"),
        (["ask", "--model", "gpt-9", "Hi?"], "unknown model 'gpt-9'"),
        (["index", "/no/such/file.txt"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(env, args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_binary_and_empty_documents_are_refused(env):
    binary = env / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02\xff")
    assert "looks binary" in run("ask", "--doc", str(binary), "Hi?").output
    latin = env / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    assert "not UTF-8" in run("ask", "--doc", str(latin), "Hi?").output
    empty = env / "empty.txt"
    empty.write_text("  \n")
    assert "empty" in run("ask", "--doc", str(empty), "Hi?").output


def test_index_builds_once_then_reports_fresh(env):
    first = run("index")
    assert first.exit_code == 0 and "Building the index" in first.stderr
    second = run("index")
    assert second.exit_code == 0 and "Building" not in second.stderr
    assert "17 sentences" in second.stdout


def test_info_json_reports_paths_and_versions(env):
    result = run("info", "--json")
    report = json.loads(result.stdout)
    assert report["index_dir"].startswith(str(env / "index"))
    assert report["embedder"]["name"] == "hashing"
    assert report["model"]["name"] == "fake"
    assert report["versions"]["faiss-cpu"] and report["versions"]["bm25s"]


def test_chat_keeps_the_conversation(env):
    result = CliRunner().invoke(
        main, ["chat"], input="Which foreign minister did Rasmussen meet with?\n/new\n/quit\n"
    )
    assert result.exit_code == 0
    assert "Lieberman" in result.stdout and "New conversation." in result.stdout


def reference_score(qa, results, *flags) -> str:
    """What ../shared/eval/score.py prints for the same files."""
    done = subprocess.run(
        [
            sys.executable,
            str(SHARED / "eval" / "score.py"),
            str(qa),
            str(results),
            "--doc",
            str(ARTICLE),
            *flags,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(not (SHARED / "eval" / "score.py").exists(), reason="needs ../shared")
def test_eval_metrics_equal_the_reference_scorer(env):
    qa = SHARED / "data" / "article_qa_dev.jsonl"
    out = env / "results.jsonl"
    result = run("eval", str(qa), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    assert ours == json.loads(reference_score(qa, out, "--json"))
    assert ours["turns"] == 18 and ours["offset_mismatches"] == 0
    plain = run("eval", str(qa), "--out", str(out))
    assert plain.stdout == reference_score(qa, out)


def test_eval_rejects_a_malformed_question_set(env):
    bad = env / "bad.jsonl"
    bad.write_text('{"id": "a", "turns": [{"question": "ok?"}]}\n{oops\n')
    result = run("eval", str(bad), "--out", str(env / "r.jsonl"))
    assert result.exit_code == 1 and "bad.jsonl:2: not valid JSON" in result.output


def test_serve_listens_on_loopback_and_warns_otherwise(env, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    quiet = run("serve", "--port", "7999")
    assert quiet.exit_code == 0, quiet.output
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 7999
    assert "Warning" not in quiet.stderr and "http://127.0.0.1:7999/" in quiet.stderr
    loud = run("serve", "--host", "0.0.0.0")
    assert calls[-1]["host"] == "0.0.0.0"
    assert "Warning: listening on 0.0.0.0" in loud.stderr
    assert "--auth USER:PASSWORD" in loud.stderr
    for loopback in ("localhost", "::1", "127.0.0.2"):
        assert "Warning" not in run("serve", "--host", loopback).stderr, loopback
    assert "Warning" in run("serve", "--host", "bot.example.com").stderr


def _served_app(monkeypatch):
    """Make `bot serve` hand its app over instead of serving it."""
    import uvicorn

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    return apps


def test_serve_with_auth_protects_the_page_and_the_api(env, monkeypatch):
    from fastapi.testclient import TestClient

    apps = _served_app(monkeypatch)
    result = run("serve", "--host", "0.0.0.0", "--auth", "ann:pw", "--api-token", "tok")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr and "Note: listening on 0.0.0.0" in result.stderr
    assert "HTTPS" in result.stderr
    with TestClient(apps[-1]) as client:
        assert client.get("/").status_code == 401
        assert client.get("/", auth=("ann", "pw")).status_code == 200
        asked = client.post(
            "/api/ask",
            json={"question": "What did Netanyahu insist on?"},
            headers={"Authorization": "Bearer tok"},
        )
        assert asked.status_code == 200 and asked.json()["answerable"]


def test_serve_takes_auth_and_limits_from_the_environment(env, monkeypatch):
    from fastapi.testclient import TestClient

    apps = _served_app(monkeypatch)
    monkeypatch.setenv("BOT_AUTH", "ann:pw")
    monkeypatch.setenv("BOT_RATE_LIMIT", "1")
    assert run("serve").exit_code == 0
    with TestClient(apps[-1]) as client:
        assert client.get("/").status_code == 401
        ask = {"question": "What did Netanyahu insist on?"}
        assert client.post("/api/ask", json=ask, auth=("ann", "pw")).status_code == 200
        again = client.post("/api/ask", json=ask, auth=("ann", "pw"))
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1


@pytest.mark.parametrize("auth", ["ann", "ann:", ":pw"])
def test_serve_refuses_a_malformed_auth(env, monkeypatch, auth):
    apps = _served_app(monkeypatch)
    result = run("serve", "--auth", auth)
    assert result.exit_code == 1 and apps == []
    assert "expected user:password" in result.output and "Traceback" not in result.output
