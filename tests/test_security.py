"""The server lets no one in by accident: credentials, limits, and no file or host it should not."""

import base64
import http.client
import json
import sys
import threading
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from bot.documents import load_document
from bot.errors import BotError
from bot.guard import Guard, RateLimiter, parse_auth
from bot.server import create_app
from bot.settings import Settings
from tests.conftest import ARTICLE, ROOT, make_bot, running

USER, PASSWORD, TOKEN = "ann", "correct horse:battery", "t0ken-for-scripts"
QUESTION = "What did Netanyahu insist on?"


def basic(user: str, password: str) -> dict:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


BASIC = basic(USER, PASSWORD)
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("index"),
        home=tmp_path_factory.mktemp("home"),
        model="fake",
        embedder="hashing",
    )
    return make_bot(settings, load_document(ARTICLE))


def app_with(bot, **server):
    """The real app over the module's bot, with these server settings."""
    settings = bot.settings.replace(**{"rate_limit": 0, **server})
    return create_app(bot, "fake", allowed_origins=["http://intranet.example"], settings=settings)


@pytest.fixture(scope="module")
def locked(bot):
    with TestClient(app_with(bot, auth=f"{USER}:{PASSWORD}", api_token=TOKEN)) as client:
        yield client


# Every way in: the page, Gradio's config and API description, and the three ways to ask.
DOORS = [
    ("GET", "/", None),
    ("GET", "/config", None),
    ("GET", "/gradio_api/info", None),
    ("POST", "/api/ask", {"question": QUESTION}),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
    ("POST", "/gradio_api/call/ask", {"data": [QUESTION, []]}),
    ("POST", "/gradio_api/queue/join", {"data": [QUESTION, [], []], "fn_index": 0}),
]


@pytest.mark.parametrize("method, path, body", DOORS)
@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "authentication required"),
        (basic(USER, "wrong"), "wrong credentials"),
        (basic("eve", PASSWORD), "wrong credentials"),
        ({"Authorization": "Bearer wrong"}, "wrong credentials"),
        ({"Authorization": "Basic !!not-base64!!"}, "wrong credentials"),
        ({"Authorization": "Digest x"}, "wrong credentials"),
    ],
)
def test_every_door_is_shut_without_the_right_credentials(
    locked, method, path, body, headers, message
):
    reply = locked.request(method, path, json=body, headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {"error": message}
    assert reply.headers["www-authenticate"].startswith("Basic ")
    assert "Netanyahu" not in reply.text


@pytest.mark.parametrize("headers", [BASIC, BEARER, basic("anyone", TOKEN)])
def test_the_page_and_the_apis_open_with_credentials(locked, headers):
    page = locked.get("/", headers=headers)
    assert page.status_code == 200 and "<html" in page.text.lower()
    line = locked.post("/api/ask", json={"question": QUESTION}, headers=headers).json()
    assert line["sources"][0]["text"].startswith("Netanyahu insists")
    chat = locked.post(
        "/v1/chat/completions", json={"messages": DOORS[4][2]["messages"]}, headers=headers
    )
    assert "security guarantees" in chat.json()["answer"]


def test_the_gradio_client_needs_the_token(bot):
    from gradio_client import Client

    with running(app_with(bot, auth=f"{USER}:{PASSWORD}", api_token=TOKEN)) as url:
        client = Client(url + "/", verbose=False, analytics_enabled=False, headers=BEARER)
        line = client.predict(QUESTION, [], api_name="/ask")
        assert line["sources"][0]["text"].startswith("Netanyahu insists")
        with pytest.raises(ValueError, match="credentials were not provided"):
            Client(url + "/", verbose=False, analytics_enabled=False)


def test_a_token_alone_protects_everything_too(bot):
    with TestClient(app_with(bot, api_token=TOKEN)) as client:
        assert client.get("/").status_code == 401
        assert client.post("/api/ask", json={"question": QUESTION}).status_code == 401
        assert (
            client.post("/api/ask", json={"question": QUESTION}, headers=BEARER).status_code == 200
        )
        assert client.get("/", headers=basic("me", TOKEN)).status_code == 200
        assert client.get("/", headers=basic(USER, PASSWORD)).status_code == 401


def test_cors_preflight_works_and_refusals_are_readable_by_the_allowed_origin(locked):
    origin = {"Origin": "http://intranet.example"}
    preflight = locked.options(
        "/api/ask",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://intranet.example"
    refused = locked.post("/api/ask", json={"question": QUESTION}, headers=origin)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "http://intranet.example"


def test_auth_must_be_user_colon_password():
    assert parse_auth("") is None
    assert parse_auth("ann:a:b") == ("ann", "a:b")
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(BotError, match="expected user:password"):
            parse_auth(bad)
    assert "secret" not in repr(Settings(auth="ann:secret", api_token="secret"))


# Limits ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limiter_allows_a_burst_then_one_request_per_interval():
    clock = Clock()
    limiter = RateLimiter(30, clock=clock)  # 30 a minute: a burst of 30, then one every 2 s
    assert all(limiter.take("a") == 0 for _ in range(30))
    assert limiter.take("a") == pytest.approx(2.0)
    assert limiter.take("b") == 0, "another client has its own budget"
    clock.now += 1
    assert limiter.take("a") == pytest.approx(1.0)
    clock.now += 1
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert RateLimiter(0, clock=clock).take("a") == 0, "0 means no limit"


def test_rate_limiter_is_thread_safe_and_forgets_idle_clients():
    limiter = RateLimiter(50)
    results = []
    threads = [
        threading.Thread(target=lambda: results.extend(limiter.take("x") == 0 for _ in range(20)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 50  # 160 tries, exactly the burst allowed
    clock = Clock()
    small = RateLimiter(60, clock=clock, max_clients=10)
    for number in range(10):
        small.take(f"client{number}")
    clock.now += 61
    small.take("newcomer")
    assert list(small.buckets) == ["newcomer"]


def test_too_many_requests_get_429_with_retry_after(bot):
    with TestClient(app_with(bot, rate_limit=2)) as client:
        assert [
            client.post("/api/ask", json={"question": QUESTION}).status_code for _ in range(2)
        ] == [
            200,
            200,
        ]
        refused = client.post("/api/ask", json={"question": QUESTION})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert "too many requests" in refused.json()["error"]
        for path, body in [
            ("/v1/chat/completions", {"messages": DOORS[4][2]["messages"]}),
            ("/gradio_api/queue/join", DOORS[6][2]),
            ("/gradio_api/call/ask", DOORS[5][2]),
        ]:
            assert client.post(path, json=body).status_code == 429, path
        assert client.get("/").status_code == 200, "loading the page is not limited"
    with TestClient(app_with(bot, rate_limit=2), client=("10.0.0.9", 5000)) as other:
        assert other.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_guessing_passwords_is_rate_limited(bot):
    app = app_with(bot, auth=f"{USER}:{PASSWORD}", rate_limit=3)
    with TestClient(app) as client:
        codes = [client.get("/", headers=basic(USER, f"guess{n}")).status_code for n in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        assert client.get("/").status_code == 401, "asking without credentials spends nothing"


def test_a_body_over_the_limit_gets_413(bot):
    with TestClient(app_with(bot, max_request_bytes=4096)) as client:
        big = {"question": "Why? " * 2000}
        declared = client.post("/api/ask", json=big)
        assert declared.status_code == 413 and "4096 bytes" in declared.json()["error"]

        def chunks():
            yield b'{"question": "'
            for _ in range(100):
                yield b"x" * 100
            yield b'"}'

        chunked = client.post(
            "/api/ask", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413
        gradio = client.post(
            "/gradio_api/queue/join", json={"data": ["x" * 5000, [], []], "fn_index": 0}
        )
        assert gradio.status_code == 413
        small = client.post(
            "/api/ask",
            content=iter([b'{"question": "', QUESTION.encode(), b'"}']),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 200 and small.json()["answerable"]


def test_the_default_limits_are_on():
    settings = Settings()
    assert settings.max_request_bytes == 64 * 1024 and settings.rate_limit == 30


def test_a_question_under_the_body_limit_but_over_the_question_limit_is_a_400(bot):
    with TestClient(app_with(bot)) as client:
        reply = client.post("/api/ask", json={"question": "word " * 10_000})
    assert reply.status_code == 400 and "too long" in reply.json()["error"]


# Files and other hosts ---------------------------------------------------------------------------


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written: no client-side normalizing of `..` or of escapes."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, reply.read(64 * 1024)  # enough to see whose file it is
    finally:
        connection.close()


@pytest.fixture(scope="module")
def served(bot):
    """The app on loopback, with a model file where the bot keeps its models."""
    models = bot.settings.home / "models"
    models.mkdir(parents=True, exist_ok=True)
    gguf = models / "chat.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"weights" * 100)
    with running(app_with(bot)) as url:
        yield url, gguf


def secret_paths(gguf) -> dict[str, bytes]:
    """Files the server must never hand out, each with bytes that would prove it did."""
    paths = {
        "/etc/passwd": b"root:",
        str(ROOT / "pyproject.toml"): b"[build-system]",
        str(gguf): b"GGUF",
        str(ARTICLE): ARTICLE.read_bytes()[:40],
    }
    real_models = Settings().home / "models"
    for real in sorted(real_models.glob("*.gguf"))[:1]:
        paths[str(real)] = b"GGUF"
    return paths


def attacks(path: str) -> list[str]:
    relative = "../" * 12 + path.lstrip("/")
    return [
        f"/gradio_api/file={path}",
        f"/gradio_api/file={quote(path, safe='')}",
        f"/gradio_api/file/{path.lstrip('/')}",
        f"/gradio_api/file={relative}",
        f"/gradio_api/file=/tmp/gradio/{relative}",
        f"/gradio_api/file%3D{quote(path, safe='')}",
        f"/file={path}",
        f"/file/{path.lstrip('/')}",
        f"/static/{relative}",
        f"/static/{quote(relative, safe='')}",
        f"/assets/{relative}",
        f"/assets/{relative.replace('..', '%2e%2e')}",
        f"/{relative}",
        f"/svelte/{relative}",
        f"/gradio_api/custom_component/x/client/{relative}",
        f"/gradio_api/proxy=file://{path}",
        f"/favicon.ico/{relative}",
    ]


def test_no_route_serves_a_file_outside_the_app(served):
    url, gguf = served
    status, favicon = raw_get(url, "/favicon.ico")
    assert status == 200 and b"<svg" in favicon, "the raw client reaches the app's own files"
    served_files = []
    for path, proof in secret_paths(gguf).items():
        for attack in attacks(path):
            status, body = raw_get(url, attack)
            if status == 200 and proof in body:
                served_files.append(attack)
            assert b"Traceback" not in body
    assert served_files == []


def test_the_file_routes_are_closed(served):
    url, _ = served
    for path in ("/gradio_api/file=/etc/hostname", "/gradio_api/upload", "/gradio_api/proxy=x"):
        status, body = raw_get(url, path)
        assert status == 404 and json.loads(body) == {"error": "not found"}, path


CONNECTIONS: list = []
WATCHING: list = []


def _watch(event, args):
    if WATCHING and event in ("socket.connect", "socket.getaddrinfo"):
        CONNECTIONS.append((event, repr(args)[:200]))


def test_the_file_route_fetches_no_other_host(bot):
    """Gradio's `file=https://...` would fetch a public URL and stream it back; not here."""
    sys.addaudithook(_watch)
    with TestClient(app_with(bot)) as client:
        WATCHING.append(True)
        try:
            for target in ("https://example.com/logo.png", "http://93.184.215.14/x.png"):
                for route in ("/gradio_api/file=", "/gradio_api/file/"):
                    assert client.get(route + target).status_code == 404
        finally:
            WATCHING.clear()
    assert CONNECTIONS == []


def test_run_history_which_talks_to_the_hub_is_off(locked):
    assert locked.get("/gradio_api/runs", headers=BASIC).status_code == 404
    assert locked.get("/gradio_api/run-history/buckets", headers=BASIC).status_code == 404


def test_guard_passes_other_scopes_through():
    import asyncio

    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(Guard(app, auth=("a", "b"))({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


# The browser behind --auth ------------------------------------------------------------------------


@pytest.mark.browser
def test_the_chat_works_in_a_browser_with_credentials(bot):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, ask

    app = app_with(bot, auth=f"{USER}:{PASSWORD}", rate_limit=30)
    with running(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            stranger = browser.new_context(
                http_credentials={"username": USER, "password": "wrong"}
            ).new_page()
            refused = stranger.goto(url + "/")
            assert refused.status == 401 and "wrong credentials" in stranger.content()
            assert stranger.locator("#question").count() == 0
            context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
            page = context.new_page()
            statuses = []
            page.on("response", lambda response: statuses.append(response.status))
            page.goto(url + "/")
            page.wait_for_selector("#question textarea", timeout=60_000)
            ask(page, QUESTION)
            page.wait_for_selector(".bot-answer", timeout=60_000)
            assert "security guarantees" in page.inner_text("#chat")
            assert 401 not in statuses[1:], "after the challenge every request carries the login"
        finally:
            browser.close()
