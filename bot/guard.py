"""Who may use the server, and how much: credentials, a body size limit, a per-client rate limit.

One ASGI middleware in front of everything the server answers (the chat page, Gradio's routes and
the APIs), so that no route can be forgotten:

- credentials: HTTP Basic with the `--auth user:password`, or `Authorization: Bearer <token>` with
  the `--api-token` (HTTP Basic with the token as the password works too, for browsers);
- a per-client rate limit on requests that make the server work (POST), and on wrong credentials;
- a request body size limit;
- Gradio's file and proxy routes are closed: this app serves no file of the user's disk and
  fetches nothing from other hosts. Its upload route is closed too, unless the page takes
  documents (`--uploads`), and then it has its own size limit.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable

from bot.errors import BotError

Scope = dict
Message = dict
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Routes Gradio offers that this app never uses: reading files from the server's disk
# (`file=`, and its older form `file/`), fetching other hosts (`proxy=`, and `file=https://...`),
# and writing uploads to disk.
CLOSED_ROUTES = re.compile(r"/gradio_api/(file[=/]|proxy=)")
# Uploads go to a temporary folder, never served back; open only when the page takes documents.
UPLOAD_ROUTES = re.compile(r"/gradio_api/upload")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def parse_auth(value: str) -> tuple[str, str] | None:
    """`user:password` (the password may contain colons) -> (user, password); "" -> None."""
    if not value:
        return None
    user, colon, password = value.partition(":")
    if not colon or not user or not password:
        raise BotError("--auth / BOT_AUTH: expected user:password, both non-empty")
    return user, password


class RateLimiter:
    """A token bucket per client: `per_minute` requests at once, then one every 60/per_minute s.

    Thread-safe. Buckets of clients that have been idle long enough to be full again are
    forgotten when there are many, so memory stays bounded.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ):
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0  # tokens a second
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self.lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token; return 0 if allowed, else the seconds until the next token."""
        if self.capacity <= 0:
            return 0.0
        with self.lock:
            now = self.clock()
            tokens, when = self.buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - when) * self.refill)
            if tokens >= 1:
                self.buckets[client] = (tokens - 1, now)
                if len(self.buckets) > self.max_clients:
                    self._forget_idle(now)
                return 0.0
            self.buckets[client] = (tokens, now)
            return (1 - tokens) / self.refill

    def _forget_idle(self, now: float) -> None:
        full = self.capacity / self.refill
        for client, (_, when) in list(self.buckets.items()):
            if now - when >= full:
                del self.buckets[client]


class Guard:
    """The ASGI middleware: closed routes -> 404, credentials -> 401, rate -> 429, size -> 413."""

    def __init__(
        self,
        app: ASGIApp,
        auth: tuple[str, str] | None = None,
        api_token: str = "",
        max_request_bytes: int = 64 * 1024,
        rate_limit: int = 30,
        clock: Callable[[], float] = time.monotonic,
        max_upload_bytes: int = 0,
    ):
        self.app = app
        self.auth = auth
        self.api_token = api_token
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes  # 0: the upload route is closed
        self.limiter = RateLimiter(rate_limit, clock=clock)

    @property
    def protected(self) -> bool:
        return self.auth is not None or bool(self.api_token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if self.protected:
            verdict = self.check(_header(scope, b"authorization"))
            if verdict is not True:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                # Wrong credentials spend the client's budget: guessing passwords is slow.
                wait = self.limiter.take(client) if verdict is False else 0.0
                if wait:
                    await _too_many(wait, send)
                    return
                message = "wrong credentials" if verdict is False else "authentication required"
                await _json(
                    401,
                    {"error": message},
                    send,
                    {"www-authenticate": 'Basic realm="bot", charset="UTF-8"'},
                )
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        upload = bool(UPLOAD_ROUTES.search(scope["path"]))
        if CLOSED_ROUTES.search(scope["path"]) or (upload and not self.max_upload_bytes):
            await _json(404, {"error": "not found"}, send)
            return
        method = scope["method"]
        if method in BODY_METHODS:
            wait = self.limiter.take(client)
            if wait:
                await _too_many(wait, send)
                return
        limit = self.max_upload_bytes if upload else self.max_request_bytes
        if limit:
            receive = await self._limit_body(scope, receive, send, limit)
            if receive is None:
                return
        await self.app(scope, receive, send)

    def check(self, header: str | None) -> bool | None:
        """True: good credentials; False: wrong ones; None: none given."""
        if not header:
            return None
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return bool(self.api_token) and _same(value, self.api_token)
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not colon:
            return False
        if self.auth is not None:
            good_user, good_password = self.auth
            # Both comparisons always run: the time taken says nothing about which one failed.
            if _same(user, good_user) & _same(password, good_password):
                return True
        return bool(self.api_token) and _same(password, self.api_token)

    async def _limit_body(
        self, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> Receive | None:
        """Refuse a body over the limit with 413; return the receive channel to use, or None."""
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit() or int(length) > limit:
                await _too_large(limit, send)
                return None
            return receive
        if scope["method"] not in BODY_METHODS:
            return receive
        # No Content-Length (a chunked body): read it here, up to the limit, then replay it.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _too_large(limit, send)
                return None
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return replay


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _json(status: int, body: dict, send: Send, headers: dict | None = None) -> None:
    content = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


async def _too_many(wait: float, send: Send) -> None:
    seconds = max(1, math.ceil(wait))
    await _json(
        429,
        {"error": f"too many requests; try again in {seconds} s"},
        send,
        {"retry-after": str(seconds)},
    )


async def _too_large(limit: int, send: Send) -> None:
    await _json(413, {"error": f"request body too large (the limit is {limit} bytes)"}, send)
