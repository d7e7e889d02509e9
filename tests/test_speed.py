"""Speed work: derived chunk vectors, the FAISS index type by size, and that `make bench` runs."""

from __future__ import annotations

import json

import numpy as np

from bot import index as index_module
from bot.documents import document_from_text
from bot.embed import HashingEmbedder
from bot.index import build_index
from tests.conftest import TINY


def test_chunk_vectors_are_token_weighted_means_of_their_sentences(settings):
    doc = document_from_text(TINY, doc_id="bridge")
    embedder = HashingEmbedder()
    index = build_index([doc], embedder, settings, progress=False)
    sentences = [s.text for s in index.documents["bridge"].sentences]
    # Sentence vectors are kept in float16 (per-document segments, reused by later builds).
    vectors = embedder.encode(sentences).astype(np.float16).astype(np.float32)
    weights = np.array(embedder.token_counts(sentences), dtype=np.float32)
    for n, chunk in enumerate(index.chunks):
        ids = list(chunk.sentence_ids)
        expected = (vectors[ids] * weights[ids, None]).sum(axis=0)
        expected /= np.linalg.norm(expected)
        assert np.allclose(index.vectors.reconstruct(n), expected, atol=1e-6)


def test_large_indexes_use_hnsw_and_find_what_flat_finds(settings, monkeypatch):
    import faiss

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


def test_bench_runs_on_tiny_sizes_and_writes_its_section(tmp_path, monkeypatch):
    """The benchmark's code paths, with the fake model and hashing embedder; no timings checked."""
    from bot import bench

    monkeypatch.setenv("BOT_MODEL", "fake")
    monkeypatch.setenv("BOT_EMBEDDER", "hashing")
    monkeypatch.setenv("BOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    qa = tmp_path / "qa.jsonl"
    turns = [
        {"question": "What did Lieberman say?", "answerable": True, "answers": ["rethink"]},
        {"question": "What is his job?", "answerable": True, "answers": ["minister"]},
    ]
    qa.write_text(json.dumps({"id": "c1", "turns": turns}) + "\n", encoding="utf-8")
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(
        f"# Benchmarks\n\nHand-written notes.\n\n{bench.START}\nold figures\n{bench.END}\n\nMore.\n"
    )
    monkeypatch.setattr(bench, "RETRIEVAL_QUERIES", 3)
    monkeypatch.setattr(index_module, "HNSW_FROM", 150)  # the larger size takes the HNSW path
    bench.main(["--qa", str(qa), "--out", str(out), "--sizes", "40,200", "--copies", "2"])
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nHand-written notes.") and text.endswith("More.\n")
    assert "old figures" not in text and text.count(bench.START) == 1
    section = text[text.index(bench.START) : text.index(bench.END)]
    assert "Index build rate:" in section and "sentences/s" in section
    assert "| 40 | IndexFlatIP |" in section and "| 200 | IndexHNSWFlat |" in section
    assert "`bot serve` to its first answer" in section
    assert "not measured (the model is not llama.cpp here)" in section
    assert "## Quality on `qa.jsonl`" in section
