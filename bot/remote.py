"""Generate stage on another machine: any OpenAI-compatible server (llama.cpp's, vLLM, Ollama).

Only generation leaves the bot: retrieval, the prompt, attribution and the checks stay here, so
the answers keep their exact source sentences. Replies are streamed as server-sent events.
There is no `judge` (it needs the first token's logits, which such servers do not reliably give)
and no saved prompt state: the bot skips both for a backend that lacks them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from bot.errors import BotError
from bot.settings import Settings

Messages = list[dict[str, str]]
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0  # a busy server may queue a request for a while before its first token


class RemoteLLM:
    """Streamed chat completions from `base_url` (the part before `/chat/completions`)."""

    def __init__(self, base_url: str, settings: Settings):
        url = base_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise BotError(f"--llm-url must start with http:// or https://, got {base_url!r}")
        self.url = url
        self.temperature = settings.temperature
        self.seed = settings.seed
        key = settings.llm_api_key
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {key}"} if key else None,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            trust_env=False,  # a proxy from the environment must not see the article
        )
        self.model = self._pick_model(settings.model)
        self.name = f"{self.model} at {self.url}"

    @property
    def fingerprint(self) -> str:
        return f"{self.url}#{self.model}"

    def _pick_model(self, wanted: str) -> str:
        """The served model named by the model setting, or the only one the server has.

        Asking also proves, at start-up, that the server is there.
        """
        response = self._request("GET", "/models")
        if response.status_code == 404:  # a server without the listing: name it ourselves
            return wanted
        ids = [m.get("id") for m in self._json(response).get("data", []) if isinstance(m, dict)]
        ids = [i for i in ids if isinstance(i, str)]
        if wanted in ids or not ids:
            return wanted
        if len(ids) == 1:
            return ids[0]
        raise BotError(
            f"the model server at {self.url} serves several models ({', '.join(ids)}); "
            "pick one with --model"
        )

    def stream(
        self, messages: Messages, max_tokens: int, stop: list[str] | None = None
    ) -> Iterator[str]:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stream": True,
        }
        if stop:
            body["stop"] = stop
        try:
            with self.client.stream("POST", self.url + "/chat/completions", json=body) as reply:
                if reply.status_code >= 400:
                    reply.read()
                    raise BotError(self._describe_error(reply))
                for line in reply.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank lines, comments (": ping") and event names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    piece = self._piece(data)
                    if piece:
                        yield piece
        except httpx.HTTPError as error:
            raise BotError(self._describe_failure(error)) from None

    def _piece(self, data: str) -> str | None:
        try:
            event = json.loads(data)
        except ValueError:
            raise BotError(
                f"the model server at {self.url} sent something that is not a chat completion "
                f"stream: {data[:200]!r}"
            ) from None
        if not isinstance(event, dict):
            return None
        if "error" in event:
            raise BotError(f"the model server at {self.url} failed: {_message(event)}")
        choices = event.get("choices") or [{}]
        delta = choices[0].get("delta") or {}
        content = delta.get("content")
        return content if isinstance(content, str) else None

    def _request(self, method: str, path: str) -> httpx.Response:
        try:
            return self.client.request(method, self.url + path)
        except httpx.HTTPError as error:
            raise BotError(self._describe_failure(error)) from None

    def _json(self, response: httpx.Response) -> dict:
        if response.status_code >= 400:
            raise BotError(self._describe_error(response))
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BotError(
                f"{self.url} does not look like an OpenAI-compatible server "
                f"(GET /models answered {response.text[:200]!r})"
            )
        return data

    def _describe_error(self, response: httpx.Response) -> str:
        try:
            detail = _message(response.json())
        except ValueError:
            detail = response.text.strip()[:300] or response.reason_phrase
        hint = " (set BOT_LLM_API_KEY)" if response.status_code in (401, 403) else ""
        return f"the model server at {self.url} answered {response.status_code}: {detail}{hint}"

    def _describe_failure(self, error: httpx.HTTPError) -> str:
        if isinstance(error, httpx.ConnectError):
            return f"cannot reach the model server at {self.url} ({error}); is it running?"
        if isinstance(error, httpx.TimeoutException):
            return f"the model server at {self.url} did not answer in time ({type(error).__name__})"
        return f"the connection to the model server at {self.url} failed: {error}"


def _message(payload) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}."""
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload))
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])[:300]
        return str(error)[:300]
    return str(payload)[:300]
