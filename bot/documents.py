"""Load stage: read a document's text exactly as the offsets will refer to it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BotError

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str
    path: str | None = None

    @property
    def sha256(self) -> str:
        return text_sha256(self.text)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_document(path: Path | str) -> Document:
    """Read a UTF-8 text file; offsets index this string (universal newlines, as Python reads)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BotError(f"document {path} does not exist")
    if path.is_dir():
        raise BotError(f"{path} is a directory; give a text file")
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise BotError(f"document {path} is larger than {MAX_DOCUMENT_BYTES >> 20} MB")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise BotError(f"document {path} looks binary (it contains NUL bytes); give a text file")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BotError(f"document {path} is not UTF-8 text (byte {error.start})") from None
    # Decode the way the scorer and most readers do, so that offsets agree with theirs.
    text = path.read_text(encoding="utf-8")
    return document_from_text(text, doc_id=path.stem, title=path.stem, path=path)


def document_from_text(
    text: str, doc_id: str | None = None, title: str | None = None, path: Path | None = None
) -> Document:
    if not text.strip():
        raise BotError("the document is empty")
    doc_id = doc_id or f"doc-{text_sha256(text)[:12]}"
    return Document(
        id=doc_id,
        title=title or _title(text, doc_id),
        text=text,
        path=str(path.resolve()) if path else None,
    )


def _title(text: str, fallback: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else fallback
    return first[:80].strip() or fallback
