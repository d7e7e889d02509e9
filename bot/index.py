"""Index stage: sentences, chunks, FAISS vectors and BM25, stored atomically with a manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot import atomic
from bot.chunks import Chunk, chunk_sentences
from bot.documents import Document, unique_id
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
SEGMENTS = ".segments"  # beside the indexes: per-document sentence vectors, shared by them
BATCH_SENTENCES = 1024  # sentences embedded at a time when indexing many small documents
# From about 5,000 sentences on, embedding processes repay their start (a few seconds each).
POOL_FROM_CHARACTERS = 500_000
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

    def find(self, ref: Path | str, by_path: bool = True, listed_by: str = "`bot docs`") -> str:
        """The id of the document `ref` names (see documents.find_in)."""
        from bot.documents import find_in

        documents = [entry.document for entry in self.documents.values()]
        return find_in(documents, ref, by_path, listed_by).id


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


@dataclass(frozen=True)
class Segment:
    """One document's sentences as the embedder saw them: what re-indexing can reuse."""

    bounds: np.ndarray  # (n, 2) start and end offsets of each sentence
    vectors: np.ndarray  # (n, d) normalized sentence vectors, float16
    tokens: np.ndarray  # (n,) tokens the embedder read for each: a chunk weighs them by these


class SegmentStore:
    """Per-document segments on disk, named by the text's sha256: an unchanged document is
    never split or embedded again, and an interrupted run keeps every one it finished."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    @classmethod
    def of(cls, index_dir: Path, embedder) -> SegmentStore:
        """The store shared by the indexes in one folder, one per embedder and splitter."""
        from importlib.metadata import version

        key = f"{embedder.fingerprint}|{SPLITTER}|{version('pysbd')}|{SPLITTER_RULES}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return cls(Path(index_dir) / SEGMENTS / digest)

    @classmethod
    def beside(cls, index_directory: Path, embedder) -> SegmentStore:
        """The store of the folder that holds this index."""
        return cls.of(Path(index_directory).parent, embedder)

    def _path(self, sha256: str) -> Path:
        return self.directory / sha256[:2] / f"{sha256}.npz"

    def get(self, document: Document) -> Segment | None:
        """The stored segment of this text, or None if there is none or it does not fit it."""
        if self.directory is None:
            return None
        path = self._path(document.sha256)
        try:
            with np.load(path) as stored:
                segment = Segment(stored["bounds"], stored["vectors"], stored["tokens"])
        except FileNotFoundError:
            return None
        except Exception:  # damaged: embedding the document again repairs it
            path.unlink(missing_ok=True)
            return None
        if not _fits(segment, document.text):
            path.unlink(missing_ok=True)
            return None
        return segment

    def put(self, document: Document, segment: Segment) -> None:
        if self.directory is None:
            return
        # No fsync: 10,000 of them cost a minute, and a segment a crash damaged fails to load
        # (or to fit its text) and is embedded again.
        with atomic.atomic_file(self._path(document.sha256), "wb", durable=False) as handle:
            np.savez(handle, bounds=segment.bounds, vectors=segment.vectors, tokens=segment.tokens)

    def prune(self, keep: set[str]) -> int:
        """Remove the segments of texts no longer in `keep` (sha256s); return how many."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        removed = 0
        for path in self.directory.glob("*/*.npz"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fits(segment: Segment, text: str) -> bool:
    bounds = segment.bounds
    return (
        bounds.ndim == 2
        and len(bounds) == len(segment.vectors) == len(segment.tokens) > 0
        and bool(np.all(bounds[:, 0] < bounds[:, 1]))
        and bool(np.all(bounds[1:, 0] >= bounds[:-1, 1]))
        and int(bounds[0, 0]) >= 0
        and int(bounds[-1, 1]) <= len(text)
    )


def build_index(
    documents: Sequence[Document],
    embedder,
    settings: Settings,
    progress: bool = True,
    segments: SegmentStore | None = None,
    log: Callable[[str], None] | None = None,
) -> Index:
    """Split, embed and index the documents, reusing the segments already in `segments`."""
    import bm25s

    segments = segments or SegmentStore(None)
    found: dict[str, Segment] = {}
    todo: list[Document] = []
    seen: set[str] = set()
    for document in documents:
        if document.id in seen:
            raise BotError(f"two documents share the id {document.id!r}")
        seen.add(document.id)
        segment = segments.get(document)
        if segment is None:
            todo.append(document)
        else:
            found[document.id] = segment
    if found and todo and log:
        log(f"{len(found)} of {len(documents)} documents are indexed already; indexing the rest.")
    found.update(embed_documents(todo, embedder, segments, progress))

    indexed: dict[str, IndexedDocument] = {}
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    for document in documents:
        segment = found[document.id]
        text = document.text
        sentences = [
            Sentence(i, int(s), int(e), text[s:e]) for i, (s, e) in enumerate(segment.bounds)
        ]
        indexed[document.id] = IndexedDocument(document, sentences)
        doc_chunks = chunk_sentences(
            document.id, text, sentences, settings.chunk_sentences, settings.chunk_overlap
        )
        chunks.extend(doc_chunks)
        parts.append(chunk_vectors(segment, doc_chunks))
    vectors = vector_index(np.concatenate(parts) if parts else np.zeros((0, 1), np.float32))
    bm25 = bm25s.BM25()
    tokens = tokenize([chunk.text for chunk in chunks])
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


def embed_documents(
    documents: Sequence[Document], embedder, segments: SegmentStore, progress: bool = True
) -> dict[str, Segment]:
    """Split and embed documents a batch at a time, storing each one's segment as it is done.

    Batches keep memory bounded and let the embedder sort many sentences by length (less
    padding); storing as we go means an interrupted run keeps what it finished. A large job is
    embedded on a pool of processes while this one splits the next documents.
    """
    from collections import deque

    from tqdm import tqdm

    done: dict[str, Segment] = {}
    pool = _pool_for(documents, embedder)
    if documents and pool is None:
        _ = embedder.dimension  # load (or convert) the model first: the bar times embedding
    in_flight: deque = deque()  # (batch, its pieces' futures) in the order they were made
    batch: list[tuple[Document, list[Sentence]]] = []
    sentences_done = 0
    with tqdm(
        total=len(documents),
        desc="Indexing",
        unit="doc",
        file=sys.stderr,
        disable=not progress or not documents,
        dynamic_ncols=True,
    ) as bar:

        def store(batch: list, vectors: np.ndarray, counts: np.ndarray) -> None:
            nonlocal sentences_done
            row = 0
            for document, sentences in batch:
                n = len(sentences)
                segment = Segment(
                    np.asarray([[s.start, s.end] for s in sentences], dtype=np.int64),
                    vectors[row : row + n],
                    counts[row : row + n],
                )
                segments.put(document, segment)
                done[document.id] = segment
                row += n
            sentences_done += row
            elapsed = bar.format_dict["elapsed"] or 1e-9
            bar.set_postfix_str(
                f"{sentences_done} sentences, {sentences_done / elapsed:.0f} sentences/s",
                refresh=False,
            )
            bar.update(len(batch))

        def flush(limit: int) -> None:
            """Store finished batches, oldest first, until at most `limit` pieces are queued."""
            from concurrent.futures.process import BrokenProcessPool

            while sum(len(futures) for _, futures in in_flight) > limit:
                finished, futures = in_flight.popleft()
                try:
                    results = [future.result() for future in futures]
                except BrokenProcessPool:
                    raise BotError(
                        "an embedding process died (out of memory?); the documents finished "
                        "so far are kept: run it again to go on"
                    ) from None
                vectors = np.concatenate([vectors for vectors, _ in results])
                store(finished, vectors, np.concatenate([counts for _, counts in results]))

        def embed(batch: list) -> None:
            texts = [s.text for _, sentences in batch for s in sentences]
            if pool is not None:
                # A long document is one batch: its pieces still go to every process.
                pieces = range(0, len(texts), BATCH_SENTENCES)
                futures = [pool.submit(texts[i : i + BATCH_SENTENCES]) for i in pieces]
                in_flight.append((batch, futures))
                flush(2 * pool.workers)  # enough queued to keep every process busy
                return
            vectors = _encode_with_progress(embedder, texts, progress and len(batch) == 1)
            if hasattr(embedder, "token_counts"):
                counts = np.asarray(embedder.token_counts(texts), dtype=np.int32)
            else:
                counts = np.asarray([len(text.split()) for text in texts], dtype=np.int32)
            store(batch, vectors.astype(np.float16), counts)  # float16: half the disk

        try:
            for document in documents:
                sentences = split_sentences(document.text)
                if not sentences:
                    raise BotError(f"document {document.id!r} has no text to index")
                batch.append((document, sentences))
                if sum(len(s) for _, s in batch) >= BATCH_SENTENCES:
                    embed(batch)
                    batch = []
            if batch:
                embed(batch)
            flush(0)
        finally:
            if pool is not None:
                pool.close(cancel=True)
    return done


def _pool_for(documents: Sequence[Document], embedder):
    """A pool of embedding processes when the job is large enough to repay starting them."""
    import os

    workers = os.cpu_count() or 1
    characters = sum(len(document.text) for document in documents)
    if workers < 2 or characters < POOL_FROM_CHARACTERS or not hasattr(embedder, "pool"):
        return None
    return embedder.pool(workers)


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


def chunk_vectors(segment: Segment, chunks: Sequence[Chunk]) -> np.ndarray:
    """Normalized chunk vectors: the token-weighted mean of their sentences' vectors."""
    weights = np.maximum(segment.tokens.astype(np.float32), 1.0)[:, None]
    weighted = segment.vectors.astype(np.float32) * weights
    running = np.vstack([np.zeros((1, weighted.shape[1]), np.float32), np.cumsum(weighted, 0)])
    first = np.asarray([c.sentence_ids[0] for c in chunks], dtype=np.int64)
    last = np.asarray([c.sentence_ids[-1] for c in chunks], dtype=np.int64)
    out = running[last + 1] - running[first]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _encode_with_progress(embedder, texts: list[str], progress: bool) -> np.ndarray:
    from tqdm import tqdm

    batch = 1024  # the embedder sorts each call's sentences by length: larger calls pad less
    parts = []
    with tqdm(
        total=len(texts),
        desc="Embedding",
        unit="sentence",
        file=sys.stderr,
        disable=not progress or len(texts) <= batch,
        leave=False,
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


def collection_directory(settings: Settings) -> Path:
    """Where the collection of --docs lives: named after its first folder and all their paths,
    so that re-indexing a changed folder updates the same index."""
    resolved = sorted(str(path.resolve()) for path in settings.sources)
    name = re.sub(r"[^\w.-]+", "-", settings.sources[0].resolve().name).strip("-.") or "docs"
    digest = hashlib.sha256("\n".join(resolved).encode()).hexdigest()[:8]
    return settings.index_dir / f"{name}-{digest}"


def sources_directory(settings: Settings, documents: Sequence[Document] | None = None) -> Path:
    """Where the index of what the settings answer from lives: the --docs collection's folder,
    or else that of the one document (read from --doc unless given)."""
    if settings.sources:
        return collection_directory(settings)
    if documents is None:
        from bot.documents import load_document

        documents = [load_document(settings.doc)]
    return index_directory(documents, settings)


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
    segments = SegmentStore.beside(directory, embedder)
    index = build_index(documents, embedder, settings, progress, segments, log)
    try:
        save_index(index, directory)
    except OSError as error:
        log(f"Could not save the index in {directory} ({error}); using it from memory.")
        return index
    segments.prune(_texts_in_use(directory.parent))
    return index


def with_documents(
    index: Index,
    documents: Sequence[Document],
    embedder,
    settings: Settings,
    progress: bool = True,
) -> Index:
    """The index plus these documents (each given a new id if its own is taken); only they
    are split and embedded. Kept in memory: the stored index stays that of its sources."""
    taken = set(index.documents)
    added = [dataclasses.replace(d, id=unique_id(d.id, taken)) for d in documents]
    everything = [entry.document for entry in index.documents.values()] + added
    segments = SegmentStore.of(settings.index_dir, embedder)
    return build_index(everything, embedder, settings, progress, segments)


def _texts_in_use(index_dir: Path) -> set[str]:
    """The sha256 of every text that an index in this folder holds."""
    shas: set[str] = set()
    for manifest in Path(index_dir).glob(f"*/{MANIFEST}"):
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8")).get("documents", [])
            shas.update(entry["sha256"] for entry in entries)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable index will be rebuilt; its texts are embedded again
    return shas
