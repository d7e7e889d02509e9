"""Behind a reverse proxy under a path prefix (`--root-path`), the chat still works end to end."""

import pytest

from bot.documents import load_document
from bot.server import create_app
from bot.settings import Settings
from tests.conftest import ARTICLE, make_bot, running
from tests.test_browser import CHROMIUM, ask, off_origin

pytestmark = pytest.mark.browser


def prefix_proxy(prefix: str, upstream: str):
    """A minimal reverse proxy: strips `prefix` and forwards, streaming the replies back."""
    import httpx
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    client = httpx.AsyncClient(timeout=None)
    hop = {"host", "connection", "transfer-encoding", "keep-alive"}

    async def forward(request: Request):
        path = request.url.path
        if not path.startswith(prefix):
            return Response("not here", status_code=404)
        url = upstream + (path[len(prefix) :] or "/")
        if request.url.query:
            url += "?" + request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in hop]
        outgoing = client.build_request(
            request.method, url, headers=headers, content=await request.body()
        )
        reply = await client.send(outgoing, stream=True)
        return StreamingResponse(
            reply.aiter_raw(),
            status_code=reply.status_code,
            headers={k: v for k, v in reply.headers.items() if k.lower() not in hop},
            background=BackgroundTask(reply.aclose),
        )

    methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("index"), model="fake", embedder="hashing"
    )
    bot = make_bot(settings, load_document(ARTICLE))
    with (
        running(create_app(bot, "fake", root_path="/bot")) as app_url,
        running(prefix_proxy("/bot", app_url)) as proxy_url,
    ):
        yield proxy_url


def test_chat_works_under_a_path_prefix(proxied):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(proxied + "/bot/")
        page.wait_for_selector("#question textarea", timeout=60_000)
        ask(page, "Which foreign minister did Rasmussen meet with?")
        page.wait_for_selector("#article mark", timeout=60_000)
        assert "Lieberman" in page.locator("#article mark").first.inner_text()
        browser.close()
    assert off_origin(requests, proxied + "/bot/") == []


def test_api_works_under_a_path_prefix(proxied):
    import httpx

    reply = httpx.post(
        proxied + "/bot/api/ask", json={"question": "What did Netanyahu insist on?"}, timeout=60
    )
    assert reply.status_code == 200 and reply.json()["answerable"]
