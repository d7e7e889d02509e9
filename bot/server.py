"""Present stage (HTTP): the chat page, `/api/ask` and an OpenAI-compatible endpoint, one app."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence

from pydantic import BaseModel, Field

from bot.answer import Answer, Bot
from bot.errors import BotError
from bot.prompt import Turn


class HistoryTurn(BaseModel):
    question: str
    answer: str


class AskRequest(BaseModel):
    question: str
    history: list[HistoryTurn] = Field(default_factory=list)


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False


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


def create_app(
    bot: Bot,
    model_name: str,
    allowed_origins: Sequence[str] = (),
    root_path: str = "",
    examples: Sequence[str] = (),
):
    import gradio as gr
    from fastapi import FastAPI, Request
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse, StreamingResponse

    from bot.ui import CSS, HEAD, build_ui

    # No /docs or /redoc: their pages load scripts from a CDN, and this app stays offline.
    app = FastAPI(title="bot", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
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

    @app.post("/api/ask")
    def ask(request: AskRequest) -> dict:
        history = [Turn(t.question, t.answer) for t in request.history]
        return bot.ask(request.question, history).to_result()

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest):
        question, history = turns_from_messages(request.messages)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not request.stream:
            answer = bot.ask(question, history)
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
        events = bot.stream(question, history)  # raises BotError before streaming starts

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

    blocks = build_ui(bot, model_name, examples)
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
    )


def _extras(answer: Answer) -> dict:
    """What an OpenAI client ignores and ours reads: the final text, the flag and the sources."""
    return {
        "answer": answer.text,
        "answerable": answer.answerable,
        "sources": [s.to_dict() for s in answer.sources],
    }
