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
