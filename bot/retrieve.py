"""Retrieve stage: dense (FAISS) and BM25 rankings of chunks, fused by reciprocal rank fusion."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from bot.chunks import Chunk
from bot.index import Index, tokenize

RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very top ranks


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    chunk: Chunk
    score: float  # fused RRF score


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


@contextmanager
def single_threaded_faiss() -> Iterator[None]:
    """Search a query or two on one thread. FAISS's OpenMP threads gain nothing there and, when
    the other core is busy (llama.cpp generating for someone else), wait on each other: flat
    search at 10,000 chunks took 13 ms on two threads against 0.3 ms on one. OpenMP keeps the
    setting per thread, so an index being built in another thread keeps its threads."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class Retriever:
    def __init__(self, index: Index, embedder):
        self.index = index
        self.embedder = embedder

    def dense_ranking(self, query_vectors: np.ndarray, depth: int) -> list[list[int]]:
        vectors = self.index.vectors
        depth = min(depth, vectors.ntotal)
        hnsw = getattr(vectors, "hnsw", None)
        if hnsw is not None and depth > hnsw.efSearch:
            vectors = vectors.storage  # a ranking of (nearly) everything: exact is what serves
        with single_threaded_faiss():
            _, ids = vectors.search(np.ascontiguousarray(query_vectors, np.float32), depth)
        return [[int(i) for i in row if i >= 0] for row in ids]

    def bm25_ranking(self, queries: Sequence[str], depth: int) -> list[list[int]]:
        depth = min(depth, len(self.index.chunks))
        rankings = []
        for tokens in tokenize(queries):
            if not tokens:
                rankings.append([])
                continue
            scores = self.index.bm25.get_scores(tokens)
            # Chunks sharing no word with the query score 0: they are not a BM25 match at all.
            # Choosing among the matches alone also spares numpy's argpartition, which crawls
            # over tens of thousands of tied zeros (17 ms against 0.1 ms at 100,000 chunks).
            matches = np.flatnonzero(scores > 0)
            if len(matches) > depth:
                matches = matches[np.argpartition(-scores[matches], depth - 1)[:depth]]
            order = np.lexsort((matches, -scores[matches]))  # best first; ties by position
            rankings.append([int(i) for i in matches[order]])
        return rankings

    def search(self, queries: Sequence[str] | str, k: int, doc_id: str | None = None) -> list[Hit]:
        """Top `k` chunks for one or more phrasings of a question, optionally in one document."""
        if isinstance(queries, str):
            queries = [queries]
        queries = [q for q in queries if q.strip()]
        if not queries or not self.index.chunks:
            return []
        depth = max(4 * k, 50)
        if doc_id is not None:
            depth = len(self.index.chunks)  # filtering happens after ranking; see everything
        vectors = self.embedder.encode(list(queries))
        rankings = self.dense_ranking(vectors, depth) + self.bm25_ranking(queries, depth)
        if doc_id is not None:
            rankings = [[i for i in r if self.index.chunks[i].doc_id == doc_id] for r in rankings]
        fused = reciprocal_rank_fusion(rankings)[:k]
        return [Hit(i, self.index.chunks[i], score) for i, score in fused]
