"""Load stage: read documents' text exactly as the offsets will refer to it.

Plain text is read as it is. HTML, Markdown and PDF are turned into plain text first; their
offsets then refer to that text, which the index keeps.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import BotError

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
# Elements whose text is not the article's: scripts, styles, menus and the like.
_HTML_NOISE = "head script style noscript template nav header footer aside form".split()
_HTML_BLOCKS = (
    "p h1 h2 h3 h4 h5 h6 li blockquote pre div section article tr dt dd figcaption caption"
).split()


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


def load_document(path: Path | str, doc_id: str | None = None) -> Document:
    """Read one document file: plain text, Markdown, HTML or PDF, by its suffix."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BotError(f"document {path} does not exist")
    if path.is_dir():
        raise BotError(f"{path} is a directory; give a text file")
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise BotError(f"document {path} is larger than {MAX_DOCUMENT_BYTES >> 20} MB")
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        text, title = _pdf_text(path)
    elif suffix in HTML_SUFFIXES:
        text, title = _html_text(_read_utf8(path))
    elif suffix in MARKDOWN_SUFFIXES:
        text, title = _markdown_text(_read_utf8(path))
    else:
        text = _read_utf8(path)
        return document_from_text(text, doc_id or path.stem, _headline(text) or path.stem, path)
    if not text.strip():
        raise BotError(f"document {path} has no text")
    return document_from_text(text, doc_id or path.stem, title or path.stem, path)


def _read_utf8(path: Path) -> str:
    """A UTF-8 file's text; offsets index this string (universal newlines, as Python reads)."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise BotError(f"document {path} looks binary (it contains NUL bytes); give a text file")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BotError(f"document {path} is not UTF-8 text (byte {error.start})") from None
    # Decode the way the scorer and most readers do, so that offsets agree with theirs.
    return path.read_text(encoding="utf-8")


def _html_text(markup: str) -> tuple[str, str]:
    """The visible text of a page, a paragraph a block, and its title."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title") or soup.find("h1")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup(_HTML_NOISE):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, Comment):
            node.extract()
        elif node.find_parent("pre") is None:
            # A line break in a paragraph's source is a space on the page (and must not end a
            # sentence: lines are split first).
            node.replace_with(re.sub(r"\s+", " ", str(node)))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    return _tidy(soup.get_text()), title


def _markdown_text(markdown: str) -> tuple[str, str]:
    """Markdown rendered, then read as HTML: no #, * or link syntax in the sentences."""
    from markdown_it import MarkdownIt

    text, _ = _html_text(MarkdownIt("commonmark").render(markdown))
    heading = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.MULTILINE)
    return text, heading.group(1) if heading else ""


def _pdf_text(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise BotError(f"document {path} is not a readable PDF ({error})") from None
    return _tidy("\n\n".join(pages)), str(title).strip()


def _tidy(text: str) -> str:
    """Spaces collapsed inside lines; at most one blank line between paragraphs."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def find_document_files(paths: Iterable[Path | str]) -> Iterator[tuple[Path, str]]:
    """Each document file under `paths` (files, or folders searched recursively) with its id.

    A file given by name is known by its stem; a file found in a folder by its path under that
    folder (`politics/budget.html`), so that two folders' `index.html` stay apart.
    """
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise BotError(f"document {path} does not exist")
        if path.is_file():
            yield path, path.stem
            continue
        for root, folders, files in os.walk(path):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(files):
                found = Path(root) / name
                if not name.startswith(".") and found.suffix.lower() in SUFFIXES:
                    yield found, found.relative_to(path).as_posix()


def resolve_documents(settings) -> list[Document]:
    """What the bot answers from: the collection (--docs) or the one document (--doc)."""
    if settings.sources:
        return load_documents(settings.sources)
    return [load_document(settings.doc)]


def find_in(
    documents: Sequence[Document],
    ref: Path | str,
    by_path: bool = True,
    listed_by: str = "`bot docs`",
) -> Document:
    """The document that `ref` names: its id, its id without suffix, its title or (when
    `by_path`; never for a name that came over the network) its path on this machine."""
    ref_text = str(ref)
    resolved = Path(ref).expanduser().resolve() if by_path else None
    for document in documents:
        if ref_text in (document.id, document.title) or ref_text == document.id.rsplit(".", 1)[0]:
            return document
        if resolved and document.path and Path(document.path) == resolved:
            return document
    raise BotError(f"no document {ref_text!r} in the collection; {listed_by} lists them")


def unique_id(doc_id: str, taken: set[str]) -> str:
    """`doc_id`, or `doc_id~2`, `~3`... if it is taken; the one returned is then taken too."""
    unique, n = doc_id, 1
    while unique in taken:
        n += 1
        unique = f"{doc_id}~{n}"
    taken.add(unique)
    return unique


def load_documents(paths: Sequence[Path | str]) -> list[Document]:
    """Every document under `paths`, each with an id of its own."""
    documents: list[Document] = []
    taken: set[str] = set()
    for path, doc_id in find_document_files(paths):
        documents.append(load_document(path, unique_id(doc_id, taken)))
    if not documents:
        shown = ", ".join(str(p) for p in paths)
        raise BotError(f"no documents in {shown} (looked for {', '.join(sorted(SUFFIXES))})")
    return documents


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


def _headline(text: str) -> str:
    """A plain text's first line when it is short enough to be a headline, else nothing."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= 100 else ""


def _title(text: str, fallback: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else fallback
    return first[:80].strip() or fallback
