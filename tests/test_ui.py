"""The chat page's own controls, in Chromium, over the fake model: what they do to the dialogue."""

import pytest

from bot.documents import load_document
from bot.server import create_app
from bot.settings import Settings
from tests.conftest import ARTICLE, chromium_page, make_bot, running
from tests.test_browser import ask

pytestmark = pytest.mark.browser


def test_the_chats_clear_button_forgets_the_conversation_and_there_is_no_share(tmp_path):
    settings = Settings(index_dir=tmp_path / "index", model="fake", embedder="hashing")
    bot = make_bot(settings, load_document(ARTICLE))
    with running(create_app(bot, "fake")) as url, chromium_page(url + "/") as page:
        page.wait_for_selector("#question textarea", timeout=60_000)
        ask(page, "What did Netanyahu insist on?")
        page.wait_for_selector(".bot-answer", timeout=60_000)
        labels = [b.get_attribute("aria-label") for b in page.query_selector_all("#chat button")]
        assert "Clear" in labels and not any("hare" in (label or "") for label in labels)
        page.click("#chat button[aria-label='Clear']")
        page.wait_for_function("!document.querySelector('.bot-answer')")
        ask(page, "Which foreign minister did Rasmussen meet?")
        page.wait_for_selector(".bot-answer", timeout=60_000)
    last = bot.llm.calls[-1]
    assert [m["role"] for m in last] == ["system", "user"], "the cleared turn was still sent"


def test_a_long_chat_never_outgrows_the_request_limit(tmp_path):
    # Each question's request must carry the question, not the whole chat shown so far.
    settings = Settings(
        index_dir=tmp_path / "index", model="fake", embedder="hashing", max_request_bytes=2000
    )
    bot = make_bot(settings, load_document(ARTICLE))
    questions = [
        "What did Netanyahu insist on?",
        "Which foreign minister did Rasmussen meet?",
        "What did Lieberman say about security conceptions?",
        "What did Rasmussen discuss with Netanyahu?",
        "What did Abbas say?",
        "Where is the conference held?",
        "What will NATO offer Israelis and Palestinians?",
        "Who did Rasmussen meet in Ramallah?",
    ]
    with (
        running(create_app(bot, "fake", settings=settings)) as url,
        chromium_page(url + "/") as page,
    ):
        page.wait_for_selector("#question textarea", timeout=60_000)
        for number, question in enumerate(questions, start=1):
            ask(page, question)
            page.wait_for_function(
                f"document.querySelectorAll('.bot-answer, .bot-refusal').length >= {number}",
                timeout=60_000,
            )
        shown = page.inner_text("#chat")
        # More text than one request may carry, even before its markup is counted.
        assert len(shown.encode()) > settings.max_request_bytes * 5 // 4
        # Over the limit, the server's 413 would show as Gradio's error toast.
        assert page.query_selector(".toast-body") is None
        assert page.locator(".bot-answer, .bot-refusal").count() == len(questions)
    assert questions[-1] in bot.llm.calls[-1][-1]["content"], "the last question reached the model"
