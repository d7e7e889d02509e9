from bot.documents import document_from_text
from bot.embed import HashingEmbedder
from bot.index import build_index
from bot.retrieve import Retriever, reciprocal_rank_fusion

TEXT = (
    "The harbour master counted twelve ships on Tuesday. Fishing boats left before dawn.\n"
    "The orchestra played Mahler in the cathedral. Tickets sold out within an hour.\n"
    "Wheat prices rose after the drought in the south. Farmers asked for subsidies.\n"
    "The museum opened a wing for Roman coins. Entry is free on Sundays."
)


def test_rrf_rewards_agreement_between_rankings():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    ids = [i for i, _ in fused]
    assert ids[:2] == [1, 3]
    assert abs(dict(fused)[1] - (1 / 61 + 1 / 62)) < 1e-12
    assert set(ids) == {1, 2, 3, 4}


def news_index(settings, sentences_per_chunk: int):
    doc = document_from_text(TEXT, doc_id="news")
    chunking = settings.replace(chunk_sentences=sentences_per_chunk, chunk_overlap=0)
    return build_index([doc], HashingEmbedder(), chunking, progress=False)


def test_hybrid_search_finds_the_chunk_with_the_answer(settings):
    index = news_index(settings, 2)
    retriever = Retriever(index, HashingEmbedder())
    for query, expected in [
        ("What did the orchestra play?", "Mahler"),
        ("Why did wheat prices rise?", "drought"),
        ("When is entry to the museum free?", "Sundays"),
    ]:
        hits = retriever.search(query, k=2)
        assert expected in hits[0].chunk.text, (query, hits[0].chunk.text)


def test_bm25_ignores_chunks_sharing_no_word(settings):
    index = news_index(settings, 1)
    retriever = Retriever(index, HashingEmbedder())
    [ranking] = retriever.bm25_ranking(["cathedral"], depth=10)
    assert [index.chunks[i].text for i in ranking] == [
        "The orchestra played Mahler in the cathedral."
    ]
    assert retriever.bm25_ranking(["the of and"], depth=10) == [[]]


def test_search_can_be_restricted_to_one_document(settings):
    docs = [
        document_from_text("Cats purr softly. Cats chase mice.", doc_id="cats"),
        document_from_text("Dogs purr never. Dogs chase cars.", doc_id="dogs"),
    ]
    index = build_index(docs, HashingEmbedder(), settings, progress=False)
    hits = Retriever(index, HashingEmbedder()).search("what do they chase", k=5, doc_id="dogs")
    assert hits and all(h.chunk.doc_id == "dogs" for h in hits)
