"""The `bot` command: index, ask, chat, eval, info. A thin layer over bot.answer."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from bot import __version__
from bot.errors import BotError
from bot.settings import Settings


def common_options(command):
    """Options every command that answers takes; each also reads a BOT_* variable."""
    options = [
        click.option("--model", help="1.5b (default), 0.5b or a path to a .gguf file [BOT_MODEL]"),
        click.option(
            "--doc",
            type=click.Path(path_type=Path),
            help="Document to answer from (default: the article); with --docs, the one "
            "document (id, title or path) to keep to [BOT_DOC]",
        ),
        click.option(
            "--docs",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Answer over these files and folders (.txt, .md, .html, .pdf) as one "
            "collection; repeatable [BOT_DOCS, separated by "
            f"'{os.pathsep}']",
        ),
        click.option(
            "--index-dir",
            type=click.Path(path_type=Path),
            help="Where built indexes are kept [BOT_INDEX_DIR]",
        ),
        click.option("--threads", type=int, help="CPU threads for the model [BOT_THREADS]"),
        click.option(
            "--llm-url",
            metavar="URL",
            help="Generate with an OpenAI-compatible server, e.g. http://host:8000/v1 "
            "(retrieval and sources stay here) [BOT_LLM_URL]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_settings(**overrides) -> Settings:
    docs = overrides.pop("docs", None)
    if docs:  # --docs, repeated, overrides BOT_DOCS as a whole
        overrides["docs"] = os.pathsep.join(str(path) for path in docs)
    return Settings.load(**overrides)


def kept_document(bot, settings: Settings) -> str | None:
    """The id of the document --doc names inside a --docs collection, if it names one."""
    return None if settings.keep_to is None else bot.index.find(settings.keep_to)


def friendly_errors(command):
    """Turn expected failures into a one-line message and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BotError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)
        except OSError as error:  # a full disk, a permission, a path that is a folder
            where = f": {error.filename}" if error.filename else ""
            click.echo(f"Error: {error.strerror or error}{where}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            sys.exit(130)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="bot")
def main() -> None:
    """Answer questions about a news article, offline, citing its exact sentences."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild even if the stored index is fresh.")
@click.option("--index-dir", type=click.Path(path_type=Path), help="[BOT_INDEX_DIR]")
@friendly_errors
def index(paths: tuple[Path, ...], force: bool, index_dir: Path | None) -> None:
    """Index PATHS: one file, or files and folders as a collection (default: the article).

    Again later, only what changed is read: new and changed documents are embedded, removed
    ones dropped. An interrupted run keeps what it finished, and the next one resumes.
    """
    from bot.documents import resolve_documents
    from bot.embed import embedder_for
    from bot.index import open_index, sources_directory

    if len(paths) == 1 and paths[0].is_file():
        # One file is one document, whatever BOT_DOCS says.
        settings = Settings.load(doc=paths[0], docs="", index_dir=index_dir)
    else:
        settings = load_settings(docs=paths or None, index_dir=index_dir)
    documents = resolve_documents(settings)
    directory = sources_directory(settings, documents)
    embedder = embedder_for(settings)
    built = open_index(documents, embedder, settings, directory=directory, rebuild=force)
    counts = built.manifest.get("counts", {})
    what = (
        f"{counts.get('documents', '?')} documents in {', '.join(map(str, settings.sources))}"
        if settings.sources
        else str(settings.doc)
    )
    click.echo(
        f"Index of {what} is ready in {directory}: "
        f"{counts.get('sentences', '?')} sentences, {counts.get('chunks', '?')} chunks."
    )
    if settings.sources and paths:
        ask_with = " ".join(f"--docs {path}" for path in paths)
        click.echo(f'Ask with: bot ask {ask_with} "your question"  (or bot chat / bot serve)')


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@common_options
@friendly_errors
def docs(as_json: bool, **options) -> None:
    """List the documents answered from: id, sentences and title."""
    from bot.documents import resolve_documents
    from bot.embed import embedder_for
    from bot.index import open_index, sources_directory

    settings = load_settings(**options)
    documents = resolve_documents(settings)
    directory = sources_directory(settings, documents)
    index = open_index(documents, embedder_for(settings), settings, directory)
    for doc_id, entry in index.documents.items():
        if as_json:
            row = {
                "id": doc_id,
                "title": entry.document.title,
                "path": entry.document.path,
                "sentences": len(entry.sentences),
            }
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{doc_id}\t{len(entry.sentences)} sentences\t{entry.document.title}")


def _print_sources(answer, out=None) -> None:
    if not answer.sources:
        return
    click.echo("\nSources:", file=out)
    for rank, source in enumerate(answer.sources, start=1):
        click.echo(f"  {rank}. [{source.start}:{source.end}] {source.text}", file=out)


def _stream_answer(events) -> object:
    """Print the answer as it streams; return the finished Answer."""
    from bot.answer import Answer

    streamed = ""
    for event in events:
        if isinstance(event, Answer):
            if streamed and streamed.strip() != event.text.strip():
                # The check after generation replaced what was shown; say so plainly.
                click.echo("\n(checked against the article, that answer does not hold:)")
                click.echo(event.text)
            elif not streamed:
                click.echo(event.text)
            else:
                click.echo()
            _print_sources(event)
            return event
        streamed += event
        click.echo(event, nl=False)
    return None


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one results line (EVAL.md format).")
@common_options
@friendly_errors
def ask(question: str, as_json: bool, **options) -> None:
    """Answer one QUESTION about the document."""
    from bot.answer import open_bot

    settings = load_settings(**options)
    bot = open_bot(settings)
    doc_id = kept_document(bot, settings)
    bot.warm_up()  # restores the article's evaluated prompt when a run before saved it
    if as_json:
        click.echo(json.dumps(bot.ask(question, doc_id=doc_id).to_result(), ensure_ascii=False))
    else:
        _stream_answer(bot.stream(question, doc_id=doc_id))


@main.command()
@common_options
@friendly_errors
def chat(**options) -> None:
    """Talk about the document in the terminal. /new starts over, /quit leaves."""
    import threading

    from bot.answer import Conversation, open_bot

    settings = load_settings(**options)
    bot = open_bot(settings)
    threading.Thread(target=bot.warm_up, daemon=True).start()  # while the user types
    doc_id = kept_document(bot, settings)
    conversation = Conversation(bot, doc_id=doc_id)
    if doc_id or not settings.sources:
        about = doc_id or settings.doc.name
    else:
        about = f"{len(bot.index.documents)} documents"
    click.echo(f"Ask about {about}. /new starts a new conversation, /quit leaves.")
    while True:
        try:
            question = click.prompt("\nYou", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if question.strip() in {"/quit", "/exit"}:
            return
        if question.strip() == "/new":
            conversation = Conversation(bot, doc_id=doc_id)
            click.echo("New conversation.")
            continue
        if not question.strip():
            continue
        click.echo("Bot> ", nl=False)
        try:
            _stream_answer(conversation.stream(question))
        except BotError as error:
            click.echo(f"Error: {error}")


@main.command(name="eval")
@click.argument("qa", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Results file to write (JSONL)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@common_options
@friendly_errors
def evaluate(qa: Path, out: Path, as_json: bool, **options) -> None:
    """Answer every turn of a question set QA and print the scorer's metrics."""
    from bot import evaluate as ev
    from bot.answer import Bot, open_bot
    from bot.documents import load_document
    from bot.embed import embedder_for
    from bot.index import open_index
    from bot.llm import load_llm

    settings = load_settings(**options)
    if out.is_dir():
        raise BotError(f"--out {out} is a directory; give the results file's name")
    conversations = ev.read_question_set(qa)
    embedder = embedder_for(settings)
    llm = load_llm(settings)
    default: list[Bot] = []

    def default_bot() -> Bot:
        if not default:
            default.append(open_bot(settings, llm=llm, embedder=embedder))
            default[0].warm_up()
        return default[0]

    def bot_for(document) -> Bot:
        return Bot(open_index([document], embedder, settings), llm, embedder, settings)

    results = ev.run(conversations, default_bot, bot_for, out)
    needs_default = any("context" not in c for c in conversations)
    default_text = load_document(settings.doc).text if needs_default else None
    metrics = ev.score(conversations, results, default_text)
    click.echo(json.dumps(metrics) if as_json else ev.format_metrics(metrics))


@main.command()
@click.option("--json", "as_json", is_flag=True)
@common_options
@friendly_errors
def info(as_json: bool, **options) -> None:
    """Show the resolved models, index directory and library versions."""
    from bot.index import sources_directory
    from bot.models import chat_model_status, package_version

    settings = load_settings(**options)
    try:
        index_dir = str(sources_directory(settings))
    except BotError as error:
        index_dir = f"unavailable: {error}"
    report = {
        "bot": __version__,
        "model": chat_model_status(settings.model, settings.home),
        "llm_url": settings.llm_url or None,
        "embedder": {
            "name": settings.embedder,
            "path": _embedder_path(settings.embedder),
            "backend": settings.embed_backend,
        },
        "document": str(settings.doc),
        "collection": [str(path) for path in settings.sources] or None,
        "index_dir": index_dir,
        "home": str(settings.home),
        "prompts_dir": str(settings.prompts_dir),
        "versions": {
            name: package_version(name)
            for name in (
                "llama-cpp-python",
                "sentence-transformers",
                "openvino",
                "faiss-cpu",
                "bm25s",
                "pysbd",
                "torch",
                "numpy",
                "click",
            )
        },
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            click.echo(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")


def _embedder_path(name: str) -> str | None:
    from bot.models import resolve_embedder

    if name == "hashing":
        return None
    try:
        return str(resolve_embedder(name))
    except BotError as error:
        return f"unavailable: {error}"


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1) [BOT_HOST].")
@click.option("--port", type=int, help="Port (default 7860) [BOT_PORT].")
@click.option("--root-path", help="Path prefix behind a reverse proxy [BOT_ROOT_PATH].")
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    help="Origin allowed to call the API and embed the chat; repeatable "
    "[BOT_ALLOWED_ORIGINS, comma-separated].",
)
@click.option(
    "--auth",
    metavar="USER:PASSWORD",
    help="Require this login for the page and the APIs (HTTP Basic) [BOT_AUTH].",
)
@click.option(
    "--api-token",
    metavar="TOKEN",
    help="Also accept 'Authorization: Bearer TOKEN', for scripts [BOT_API_TOKEN].",
)
@click.option(
    "--rate-limit",
    type=int,
    help="Requests (POST) a minute per client address; 0 = no limit (default 30) [BOT_RATE_LIMIT].",
)
@click.option(
    "--uploads",
    type=click.Choice(["on", "off", "auto"]),
    help="May the page add documents? auto (default): only when listening on loopback "
    "[BOT_UPLOADS].",
)
@click.option(
    "--max-request-bytes",
    type=int,
    help="Largest request body accepted (default 65536) [BOT_MAX_REQUEST_BYTES].",
)
@common_options
@friendly_errors
def serve(allowed_origins: tuple[str, ...], **options) -> None:
    """Serve the chat page, /api/ask and /v1/chat/completions."""
    import threading

    import uvicorn

    from bot.answer import open_bot
    from bot.server import create_app

    settings = load_settings(allowed_origins=",".join(allowed_origins) or None, **options)
    protected = settings.credentials is not None or bool(settings.api_token)  # checks --auth
    if not _is_loopback(settings.host):
        if protected:
            click.echo(
                f"Note: listening on {settings.host}; the page and the APIs need the login. "
                "Over plain HTTP it travels readable: put the bot behind HTTPS beyond a "
                "trusted network.",
                err=True,
            )
        else:
            click.echo(
                f"Warning: listening on {settings.host} exposes the bot to the network, and "
                "anyone who can reach it can use it. Require a login with --auth USER:PASSWORD "
                "(and --api-token TOKEN for scripts).",
                err=True,
            )
    bot = open_bot(settings)
    default_doc = kept_document(bot, settings)
    examples_file = settings.doc.with_suffix(".examples.txt")
    examples = (
        examples_file.read_text(encoding="utf-8").splitlines()
        if examples_file.is_file() and not settings.sources
        else []
    )
    if settings.uploads not in {"on", "off", "auto"}:
        raise BotError(f"--uploads: expected on, off or auto, got {settings.uploads!r}")
    # Anyone who can reach the page could add documents that everyone's answers then draw on:
    # by default only on the laptop itself.
    uploads = settings.uploads == "on" or (
        settings.uploads == "auto" and _is_loopback(settings.host)
    )
    app = create_app(
        bot,
        settings.model,
        settings.origins,
        settings.root_path,
        [e for e in examples if e.strip()],
        default_doc=default_doc,
        uploads=uploads,
    )
    # The first question should not pay for reading the article: read it while the page loads.
    threading.Thread(target=bot.warm_up, daemon=True).start()
    url = f"http://{settings.host}:{settings.port}{settings.root_path}/"
    about = f"{len(bot.index.documents)} documents" if settings.sources else settings.doc.name
    click.echo(f"Chat on {about} at {url}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address
