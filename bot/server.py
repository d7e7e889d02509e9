"""Present stage (HTTP): the chat page, `/api/ask` and an OpenAI-compatible endpoint, one app."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from bot.answer import Answer, Bot
from bot.errors import BotError
from bot.prompt import Turn
from bot.settings import Settings


def _unicode(text: str) -> str:
    """JSON can carry a lone surrogate (\\ud800), which no UTF-8 reply can echo back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (it holds a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_unicode)]


class HistoryTurn(BaseModel):
    question: Text
    answer: Text


class AskRequest(BaseModel):
    question: Text
    history: list[HistoryTurn] = Field(default_factory=list)
    doc: Text | None = None  # keep to one document of the collection: its id or title


class ChatMessage(BaseModel):
    role: str
    content: Text


class ChatRequest(BaseModel):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    doc: Text | None = None  # not OpenAI's: keep to one document, as in /api/ask


def turns_from_messages(messages: Sequence[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message is the question; earlier user/assistant pairs are the history."""
    if messages[-1].role != "user":
        raise BotError("the last message must come from the user")
    history, pending = [], None
    for message in messages[:-1]:
        if message.role == "user":
            pending = message.content
        elif message.role == "assistant" and pending is not None:
            history.append(Turn(pending, message.content))
            pending = None
    return messages[-1].content, history


def document_id(bot: Bot, ref: str | None, default: str | None = None) -> str | None:
    """The id of the document a request names (id or title), else the default."""
    if ref is None or not ref.strip():
        return default
    return bot.index.find(ref.strip(), by_path=False, listed_by="GET /api/documents")


def create_app(
    bot: Bot,
    model_name: str,
    allowed_origins: Sequence[str] = (),
    root_path: str = "",
    examples: Sequence[str] = (),
    settings: Settings | None = None,
    default_doc: str | None = None,
    uploads: bool = False,
):
    """The one app: APIs, then the Gradio page, behind the guard (credentials and limits).

    `settings` gives the guard's settings (auth, api_token, max_request_bytes, rate_limit);
    by default, the bot's own. `default_doc` keeps questions to one document of a collection
    unless a request names another. With `uploads`, the page can add documents.
    """
    import gradio as gr
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from bot.guard import Guard
    from bot.ui import CSS, HEAD, build_ui

    settings = settings or bot.settings
    # No /docs or /redoc: their pages load scripts from a CDN, and this app stays offline.
    app = FastAPI(title="bot", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    # Innermost of the middlewares, so that CORS preflights are answered before it and its
    # refusals carry the CORS headers a browser needs to read them.
    app.add_middleware(
        Guard,
        auth=settings.credentials,
        api_token=settings.api_token,
        max_request_bytes=settings.max_request_bytes,
        rate_limit=settings.rate_limit,
        max_upload_bytes=settings.max_upload_bytes if uploads else 0,
    )
    if allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    # Only the listed origins may put the chat in a frame; by default, only this one.
    frame_ancestors = " ".join(["'self'", *allowed_origins])

    @app.middleware("http")
    async def frame_policy(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors}"
        return response

    @app.exception_handler(BotError)
    async def bot_error(request: Request, error: BotError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        """One short line per problem, without echoing the (possibly large) input back."""
        problems = [_problem(e) for e in error.errors()[:5]]
        return JSONResponse({"error": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail)}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # The traceback goes to the server's log, never to the client.
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.get("/api/documents")
    def documents() -> dict:
        """The documents answered from (no file paths: they are the server's business)."""
        return {
            "documents": [
                {"id": doc_id, "title": entry.document.title, "sentences": len(entry.sentences)}
                for doc_id, entry in bot.index.documents.items()
            ]
        }

    @app.post("/api/ask")
    def ask(request: AskRequest) -> dict:
        history = [Turn(t.question, t.answer) for t in request.history]
        doc_id = document_id(bot, request.doc, default_doc)
        return bot.ask(request.question, history, doc_id).to_result()

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest):
        question, history = turns_from_messages(request.messages)
        doc_id = document_id(bot, request.doc, default_doc)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not request.stream:
            answer = bot.ask(question, history, doc_id)
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer.text},
                    }
                ],
                **_extras(answer),
            }
        events = bot.stream(question, history, doc_id)  # a BotError comes before streaming

        def sse() -> Iterator[str]:
            def chunk(delta: dict, finish: str | None = None, **extra) -> str:
                body = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra,
                }
                return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant"})
            for event in events:
                if isinstance(event, Answer):
                    yield chunk({}, "stop", **_extras(event))
                else:
                    yield chunk({"content": event})
            yield "data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    blocks = build_ui(bot, model_name, examples, default_doc, uploads)
    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        root_path=root_path or None,
        theme=theme,
        css=CSS,
        head=HEAD,
        ssr_mode=False,
        footer_links=["api"],
        # No run history: its routes talk to the Hugging Face Hub, and this app stays offline.
        run_history=False,
        max_file_size=settings.max_upload_bytes if uploads else None,
    )


def _problem(error: dict) -> str:
    """One line for one validation error, without the input it was about."""
    if error["type"] == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    where = ".".join(str(part) for part in error["loc"][1:]) or "body"
    return f"{where}: {error['msg']}"


def _extras(answer: Answer) -> dict:
    """What an OpenAI client ignores and ours reads: the final text, the flag and the sources."""
    return {
        "answer": answer.text,
        "answerable": answer.answerable,
        "sources": [s.to_dict() for s in answer.sources],
    }
