"""Speed work: derived chunk vectors, the FAISS index type by size, and that `make bench` runs."""

from __future__ import annotations

import numpy as np

from bot.documents import document_from_text
from bot.embed import HashingEmbedder
from bot.index import build_index
from tests.conftest import TINY


def test_chunk_vectors_are_token_weighted_means_of_their_sentences(settings):
    doc = document_from_text(TINY, doc_id="bridge")
    embedder = HashingEmbedder()
    index = build_index([doc], embedder, settings, progress=False)
    sentences = [s.text for s in index.documents["bridge"].sentences]
    vectors = embedder.encode(sentences)
    weights = np.array(embedder.token_counts(sentences), dtype=np.float32)
    for n, chunk in enumerate(index.chunks):
        ids = list(chunk.sentence_ids)
        expected = (vectors[ids] * weights[ids, None]).sum(axis=0)
        expected /= np.linalg.norm(expected)
        assert np.allclose(index.vectors.reconstruct(n), expected, atol=1e-6)


def test_large_indexes_use_hnsw_and_find_what_flat_finds(settings, monkeypatch):
    import faiss

    from bot import index as index_module
    from bot.index import expected_manifest, load_index, save_index
    from bot.retrieve import Retriever
    from tests.test_retrieve import TEXT

    doc = document_from_text("\n".join([TEXT] * 3), doc_id="news")
    embedder = HashingEmbedder()
    flat = build_index([doc], embedder, settings, progress=False)
    assert isinstance(flat.vectors, faiss.IndexFlatIP)
    monkeypatch.setattr(index_module, "HNSW_FROM", 4)
    hnsw = build_index([doc], embedder, settings, progress=False)
    assert isinstance(hnsw.vectors, faiss.IndexHNSWFlat)
    save_index(hnsw, settings.index_dir / "news")
    loaded = load_index(settings.index_dir / "news", expected_manifest([doc], embedder, settings))
    assert isinstance(loaded.vectors, faiss.IndexHNSWFlat)
    assert loaded.vectors.hnsw.efSearch == index_module.HNSW_EF_SEARCH
    question = "When did the fishing boats leave?"
    exact = [h.chunk_id for h in Retriever(flat, embedder).search(question, 3)]
    assert [h.chunk_id for h in Retriever(loaded, embedder).search(question, 3)] == exact
    # A ranking deeper than HNSW's candidate list is exact: it searches the stored vectors.
    vector = embedder.encode([question])
    assert Retriever(loaded, embedder).dense_ranking(vector, 1000) == Retriever(
        flat, embedder
    ).dense_ranking(vector, 1000)
