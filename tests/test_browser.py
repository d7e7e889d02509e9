"""The chat in real Chromium: streamed answer, highlighted source, no off-origin request, embed."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from bot.answer import open_bot
from bot.server import create_app
from bot.settings import Settings
from tests.conftest import ROOT, running

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIEBERMAN = "Rasmussen also met with Israel’s Foreign Minister Avigdor Lieberman"


@pytest.fixture(scope="module")
def intranet():
    """examples/ served from a second origin, as an intranet page would be."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "examples")
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def bot_url(tmp_path_factory, intranet):
    settings = Settings.load(model="0.5b", index_dir=tmp_path_factory.mktemp("index"))
    bot = open_bot(settings, log=lambda message: None)
    app = create_app(bot, "0.5b", allowed_origins=[intranet], examples=["What did Lieberman say?"])
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: make browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    page.close()


def off_origin(requests, *origins):
    return [
        url
        for url in requests
        if not url.startswith(origins) and not url.startswith(("data:", "blob:"))
    ]


def ask(scope, question):
    scope.locator("#question textarea").fill(question)
    scope.locator("#question textarea").press("Enter")


def test_question_gets_a_streamed_answer_and_a_highlighted_source(page, bot_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(bot_url + "/")
    page.wait_for_selector("#question textarea")
    assert "0.5b" in page.inner_text("#model-line")
    ask(page, "What did Lieberman say?")
    page.wait_for_selector("#article mark", timeout=120_000)
    chat = page.inner_text("#chat")
    assert "rethinking" in chat and "Sources" in chat
    marked = page.locator("#article mark").first.inner_text()
    assert marked.startswith(LIEBERMAN)
    # Clicking the source brings its sentence into view, even from far away.
    page.set_viewport_size({"width": 1400, "height": 400})
    page.evaluate("window.scrollTo(0, 0)")
    in_view = """() => { const r = document.querySelector('#article mark').getBoundingClientRect();
                         return r.top >= 0 && r.bottom <= window.innerHeight; }"""
    assert not page.evaluate(in_view)
    page.locator(".bot-sources .source").first.click()
    page.wait_for_function(in_view, timeout=5_000)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "chat.png"))
    assert off_origin(page.requests, bot_url) == []


def test_refusal_looks_different_and_new_conversation_clears(page, bot_url):
    page.goto(bot_url + "/")
    page.wait_for_selector("#question textarea")
    ask(page, "What is the boiling point of water?")
    refusal = page.wait_for_selector(".bot-refusal", timeout=120_000)
    assert "does not say" in refusal.inner_text()
    assert page.locator("#article mark").count() == 0
    page.click("#new")
    page.wait_for_function("!document.querySelector('.bot-refusal')")
    assert off_origin(page.requests, bot_url) == []


def test_the_widget_embedded_in_an_intranet_page_answers(page, bot_url, intranet):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{intranet}/intranet.html?bot={bot_url}/")
    frame = page.frame_locator("iframe#bot")
    frame.locator("#question textarea").wait_for(timeout=60_000)
    ask(frame, "What did Lieberman say?")
    frame.locator("#article mark").first.wait_for(timeout=120_000)
    assert frame.locator("#article mark").first.inner_text().startswith(LIEBERMAN)
    page.screenshot(path=str(ARTIFACTS / "embedded.png"))
    assert off_origin(page.requests, bot_url, intranet) == []
