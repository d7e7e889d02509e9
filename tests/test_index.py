import json

import pytest

from bot import index as index_module
from bot.documents import document_from_text
from bot.embed import HashingEmbedder
from bot.index import MANIFEST, VECTORS, StaleIndex, expected_manifest, load_index, open_index
from tests.conftest import TINY


def _open(documents, settings, messages, **kw):
    return open_index(
        documents, HashingEmbedder(), settings, log=messages.append, progress=False, **kw
    )


def test_round_trip_keeps_sentences_chunks_and_vectors(settings, tiny_doc):
    messages = []
    built = _open([tiny_doc], settings, messages)
    assert len(messages) == 1 and messages[0].startswith("Building the index")
    loaded = _open([tiny_doc], settings, messages)
    assert len(messages) == 1, "a fresh index must be loaded, not rebuilt"
    assert loaded.chunks == built.chunks
    assert loaded.documents["bridge"].sentences == built.documents["bridge"].sentences
    assert loaded.vectors.ntotal == len(loaded.chunks)
    sentence = loaded.sentence("bridge", 1)
    assert (
        TINY[sentence.start : sentence.end] == sentence.text == "She said it cost 4 million euros."
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda s, d: (s, [document_from_text(TINY + " One more.", doc_id="bridge")]),
            "document changed",
        ),
        (lambda s, d: (s.replace(chunk_sentences=2), [d]), "chunk settings"),
    ],
)
def test_stale_index_is_rebuilt_with_a_message(settings, tiny_doc, change, reason):
    messages = []
    _open([tiny_doc], settings, messages)
    new_settings, docs = change(settings, tiny_doc)
    directory = index_module.index_directory([tiny_doc], settings)
    rebuilt = open_index(
        docs,
        HashingEmbedder(),
        new_settings,
        directory=directory,
        log=messages.append,
        progress=False,
    )
    assert reason in messages[-1] and "Rebuilding" in messages[-1]
    assert load_index(directory, expected_manifest(docs, HashingEmbedder(), new_settings))
    assert rebuilt.manifest["documents"][0]["sha256"] == docs[0].sha256


def test_other_embedder_is_detected(settings, tiny_doc):
    _open([tiny_doc], settings, [])
    directory = index_module.index_directory([tiny_doc], settings)

    class Other(HashingEmbedder):
        fingerprint = "other-embedder"

    with pytest.raises(StaleIndex, match="another embedder"):
        load_index(directory, expected_manifest([tiny_doc], Other(), settings))


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupt_files_are_detected_and_rebuilt(settings, tiny_doc, damage):
    _open([tiny_doc], settings, [])
    directory = index_module.index_directory([tiny_doc], settings)
    target = directory / VECTORS
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        target.unlink()
    with pytest.raises(StaleIndex, match="missing or corrupt"):
        load_index(directory, expected_manifest([tiny_doc], HashingEmbedder(), settings))
    messages = []
    _open([tiny_doc], settings, messages)
    assert "Rebuilding" in messages[0]
    load_index(directory, expected_manifest([tiny_doc], HashingEmbedder(), settings))


def test_unreadable_manifest_means_rebuild(settings, tiny_doc):
    _open([tiny_doc], settings, [])
    directory = index_module.index_directory([tiny_doc], settings)
    (directory / MANIFEST).write_text("{not json")
    with pytest.raises(StaleIndex, match="unreadable"):
        load_index(directory, expected_manifest([tiny_doc], HashingEmbedder(), settings))


def test_crash_while_writing_keeps_the_old_index_and_leaves_no_temporary_files(
    settings, tiny_doc, monkeypatch
):
    _open([tiny_doc], settings, [])
    directory = index_module.index_directory([tiny_doc], settings)
    before = json.loads((directory / MANIFEST).read_text())
    import faiss

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    changed = document_from_text(TINY + " Extra.", doc_id="bridge")
    messages = []
    index = open_index(
        [changed],
        HashingEmbedder(),
        settings,
        directory=directory,
        log=messages.append,
        progress=False,
    )
    assert index.documents["bridge"].document.text.endswith("Extra.")
    assert "Could not save" in messages[-1]
    assert json.loads((directory / MANIFEST).read_text()) == before
    assert [p.name for p in directory.parent.iterdir()] == [directory.name]


def test_two_documents_keep_their_ids(settings):
    docs = [
        document_from_text("Cats purr. Cats sleep.", doc_id="cats"),
        document_from_text("Dogs bark. Dogs run.", doc_id="dogs"),
    ]
    index = open_index(docs, HashingEmbedder(), settings, log=lambda m: None, progress=False)
    assert {c.doc_id for c in index.chunks} == {"cats", "dogs"}
    assert index.sentence("dogs", 1).text == "Dogs run."
