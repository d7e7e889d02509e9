"""Shared fixtures: tiny texts, the hashing embedder and the fake model for fast, honest tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answer import Bot
from bot.documents import document_from_text
from bot.embed import HashingEmbedder
from bot.index import build_index
from bot.llm import FakeLLM
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ARTICLE = ROOT / "bot" / "data" / "article.txt"

TINY = (
    "Mayor Jane Doe opened the new bridge on Monday. She said it cost 4 million euros.\n"
    "The bridge links the old town with the harbour. Local shops expect more visitors.\n"
    "Critics, led by councillor Tom Smith, called the project late and expensive."
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        index_dir=tmp_path / "index",
        home=tmp_path / "home",
        model="fake",
        embedder="hashing",
        doc=ARTICLE,
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    """The CLI's environment: the fake model and the hashing embedder, writing under tmp_path."""
    monkeypatch.setenv("BOT_MODEL", "fake")
    monkeypatch.setenv("BOT_EMBEDDER", "hashing")
    monkeypatch.setenv("BOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    return tmp_path


def run_cli(*args):
    """`bot ARGS...` in this process, its output captured."""
    from click.testing import CliRunner

    from bot.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def tiny_doc():
    return document_from_text(TINY, doc_id="bridge", title="Bridge")


def make_bot(settings: Settings, document, reply=None) -> Bot:
    embedder = HashingEmbedder()
    return Bot(
        build_index([document], embedder, settings, progress=False),
        FakeLLM(reply),
        embedder,
        settings,
    )


@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium_page(url: str) -> Iterator:
    """A page of Debian's Chromium (Playwright's own browser cannot be downloaded) at `url`."""
    import shutil

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()
