"""Index stage: sentences, chunks, FAISS vectors and BM25, stored atomically with a manifest."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot import atomic
from bot.chunks import Chunk, chunk_sentences
from bot.documents import Document
from bot.errors import BotError
from bot.sentences import SPLITTER, SPLITTER_RULES, Sentence, split_sentences
from bot.settings import Settings

FORMAT_VERSION = 1
BM25_TOKENIZER = "bm25s-en-stopwords+snowball-english-v1"
# Each sentence is embedded once; a chunk's vector is the token-weighted mean of its sentences'
# vectors. With 3-sentence chunks overlapping by 1 that reads 30% fewer tokens, in shorter
# sequences, than embedding every chunk; retrieval recall@3 and @6 measured the same or better
# on the dev sets and the public benchmark (docs/BENCHMARKS.md).
CHUNK_VECTORS = "token-weighted-mean-of-sentences-v1"
# Exact (flat) search up to this many chunks; HNSW from here on. Single-threaded, flat search
# takes about 1 ms per query at 10,000 chunks and 10 ms at 100,000 (docs/BENCHMARKS.md), and a
# follow-up searches twice, while HNSW stays near 1 ms and finds almost all of flat's top 50.
HNSW_FROM = 20_000
HNSW_NEIGHBOURS = 32  # M: links per node
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # candidates kept while searching; more is slower and closer to exact
STORE, VECTORS, BM25_DIR, MANIFEST = "store.json", "vectors.faiss", "bm25", "manifest.json"
EMPTY_TOKEN = "\x00"  # never produced by tokenize(): it drops everything but word characters


class StaleIndex(Exception):
    """The stored index cannot be used as it is; the message says why."""


@dataclass(frozen=True)
class IndexedDocument:
    document: Document
    sentences: list[Sentence]


@dataclass
class Index:
    documents: dict[str, IndexedDocument]
    chunks: list[Chunk]
    vectors: object  # faiss.Index over normalized chunk embeddings (inner product = cosine)
    bm25: object  # bm25s.BM25 over the same chunks
    manifest: dict

    def sentence(self, doc_id: str, sentence_id: int) -> Sentence:
        return self.documents[doc_id].sentences[sentence_id]


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def expected_manifest(documents: Sequence[Document], embedder, settings: Settings) -> dict:
    """Everything an index depends on; any difference means it must be rebuilt."""
    from importlib.metadata import version

    return {
        "format_version": FORMAT_VERSION,
        "embedder": embedder.fingerprint,
        "splitter": {"name": SPLITTER, "version": version("pysbd"), "rules": SPLITTER_RULES},
        "chunking": {"sentences": settings.chunk_sentences, "overlap": settings.chunk_overlap},
        "bm25": BM25_TOKENIZER,
        "chunk_vectors": CHUNK_VECTORS,
        "documents": [{"id": d.id, "sha256": d.sha256} for d in documents],
    }


def build_index(
    documents: Sequence[Document], embedder, settings: Settings, progress: bool = True
) -> Index:
    import bm25s
    from tqdm import tqdm

    indexed: dict[str, IndexedDocument] = {}
    chunks: list[Chunk] = []
    for document in tqdm(
        documents,
        desc="Splitting",
        unit="doc",
        disable=not progress or len(documents) < 2,
        file=sys.stderr,
    ):
        if document.id in indexed:
            raise BotError(f"two documents share the id {document.id!r}")
        sentences = split_sentences(document.text)
        if not sentences:
            raise BotError(f"document {document.id!r} has no text to index")
        indexed[document.id] = IndexedDocument(document, sentences)
        chunks.extend(
            chunk_sentences(
                document.id,
                document.text,
                sentences,
                settings.chunk_sentences,
                settings.chunk_overlap,
            )
        )
    texts = [chunk.text for chunk in chunks]
    vectors = vector_index(chunk_vectors(embedder, indexed, chunks, progress))
    bm25 = bm25s.BM25()
    tokens = tokenize(texts)
    if not any(tokens):
        # Only stop words ("The."): bm25s cannot index an empty vocabulary. A token no query
        # can produce keeps BM25 working, and empty; the dense ranking still finds the text.
        tokens = [[EMPTY_TOKEN] for _ in tokens]
    bm25.index(tokens, show_progress=False)
    manifest = expected_manifest(documents, embedder, settings)
    manifest["counts"] = {
        "documents": len(indexed),
        "sentences": sum(len(d.sentences) for d in indexed.values()),
        "chunks": len(chunks),
    }
    return Index(indexed, chunks, vectors, bm25, manifest)


def vector_index(vectors: np.ndarray):
    """FAISS over normalized vectors, inner product: exact when small, HNSW when large."""
    import faiss

    if len(vectors) < HNSW_FROM:
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def chunk_vectors(
    embedder, indexed: dict[str, IndexedDocument], chunks: Sequence[Chunk], progress: bool
) -> np.ndarray:
    """Normalized chunk vectors: the token-weighted mean of their sentences' vectors."""
    first_row: dict[str, int] = {}
    texts: list[str] = []
    for doc_id, entry in indexed.items():
        first_row[doc_id] = len(texts)
        texts.extend(sentence.text for sentence in entry.sentences)
    vectors = _encode_with_progress(embedder, texts, progress)
    if hasattr(embedder, "token_counts"):
        weights = np.asarray(embedder.token_counts(texts), dtype=np.float32)
    else:
        weights = np.asarray([max(1, len(text.split())) for text in texts], dtype=np.float32)
    weighted = vectors * np.maximum(weights, 1.0)[:, None]
    out = np.empty((len(chunks), vectors.shape[1]), dtype=np.float32)
    for n, chunk in enumerate(chunks):
        first = first_row[chunk.doc_id] + chunk.sentence_ids[0]
        out[n] = weighted[first : first + len(chunk.sentence_ids)].sum(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _encode_with_progress(embedder, texts: list[str], progress: bool) -> np.ndarray:
    from tqdm import tqdm

    batch = 256
    parts = []
    with tqdm(
        total=len(texts),
        desc="Embedding",
        unit="sentence",
        file=sys.stderr,
        disable=not progress or len(texts) <= batch,
    ) as bar:
        for first in range(0, len(texts), batch):
            parts.append(embedder.encode(texts[first : first + batch]))
            bar.update(len(parts[-1]))
    return np.concatenate(parts).astype(np.float32)


def save_index(index: Index, directory: Path) -> None:
    """Write the index as a whole: readers see the old one or the new one, never a mix."""
    import faiss

    with atomic.atomic_directory(directory) as tmp:
        store = {
            "documents": [
                {
                    "id": d.document.id,
                    "title": d.document.title,
                    "path": d.document.path,
                    "text": d.document.text,
                    "sentences": [[s.start, s.end] for s in d.sentences],
                }
                for d in index.documents.values()
            ],
            "chunks": [[c.doc_id, c.sentence_ids[0], c.sentence_ids[-1]] for c in index.chunks],
        }
        (tmp / STORE).write_text(json.dumps(store, ensure_ascii=False), encoding="utf-8")
        faiss.write_index(index.vectors, str(tmp / VECTORS))
        index.bm25.save(str(tmp / BM25_DIR))
        manifest = dict(index.manifest)
        manifest["files"] = {
            str(path.relative_to(tmp)): _file_sha256(path)
            for path in sorted(tmp.rglob("*"))
            if path.is_file()
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def load_index(directory: Path, expected: dict) -> Index:
    """Load a stored index, or raise StaleIndex saying why it cannot be used."""
    import bm25s
    import faiss

    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StaleIndex("no index built yet") from None
    except (OSError, ValueError) as error:
        raise StaleIndex(f"its manifest is unreadable ({error})") from None
    for key, value in expected.items():
        if manifest.get(key) != value:
            raise StaleIndex(_describe_change(key))
    for name, digest in manifest.get("files", {}).items():
        path = directory / name
        if not path.is_file() or _file_sha256(path) != digest:
            raise StaleIndex(f"{name} is missing or corrupt")
    try:
        store = json.loads((directory / STORE).read_text(encoding="utf-8"))
        documents: dict[str, IndexedDocument] = {}
        for entry in store["documents"]:
            text = entry["text"]
            sentences = [
                Sentence(i, s, e, text[s:e]) for i, (s, e) in enumerate(entry["sentences"])
            ]
            document = Document(entry["id"], entry["title"], text, entry["path"])
            documents[document.id] = IndexedDocument(document, sentences)
        chunks = []
        for doc_id, first, last in store["chunks"]:
            sentences = documents[doc_id].sentences[first : last + 1]
            start, end = sentences[0].start, sentences[-1].end
            text = documents[doc_id].document.text
            chunks.append(
                Chunk(doc_id, tuple(s.id for s in sentences), start, end, text[start:end])
            )
        vectors = faiss.read_index(str(directory / VECTORS))
        bm25 = bm25s.BM25.load(str(directory / BM25_DIR))
    except Exception as error:  # any damage the checksums missed still means "rebuild"
        raise StaleIndex(f"it could not be read ({type(error).__name__}: {error})") from None
    if vectors.ntotal != len(chunks):
        raise StaleIndex("its vectors do not match its chunks")
    return Index(documents, chunks, vectors, bm25, manifest)


def _describe_change(key: str) -> str:
    return {
        "format_version": "it was written by another version of the bot",
        "embedder": "it was built with another embedder",
        "splitter": "it was built with other sentence-splitting rules",
        "chunking": "it was built with other chunk settings",
        "bm25": "it was built with another BM25 tokenizer",
        "chunk_vectors": "its chunk vectors were made another way",
        "documents": "the document changed since it was built",
    }.get(key, f"its {key} differs")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def index_directory(documents: Sequence[Document], settings: Settings) -> Path:
    """Where the index of these documents lives: named after a file, or after the text's hash."""
    if len(documents) == 1 and documents[0].path:
        return settings.index_dir / documents[0].id
    digest = hashlib.sha256("\n".join(d.sha256 for d in documents).encode()).hexdigest()
    return settings.index_dir / f"text-{digest[:16]}"


def open_index(
    documents: Sequence[Document],
    embedder,
    settings: Settings,
    directory: Path | None = None,
    rebuild: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> Index:
    """Load the stored index if it is fresh; otherwise build it, say why, and store it."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    directory = directory or index_directory(documents, settings)
    expected = expected_manifest(documents, embedder, settings)
    if not rebuild:
        try:
            return load_index(directory, expected)
        except StaleIndex as reason:
            if (directory / MANIFEST).exists():
                log(f"Rebuilding the index in {directory}: {reason}.")
            else:
                log(f"Building the index in {directory}.")
    index = build_index(documents, embedder, settings, progress=progress)
    try:
        save_index(index, directory)
    except OSError as error:
        log(f"Could not save the index in {directory} ({error}); using it from memory.")
    return index
