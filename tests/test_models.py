import hashlib
import os

import pytest

from bot import models
from bot.errors import BotError
from bot.models import ChatModelSpec, assemble, is_verified, resolve_chat_model

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three importable part packages in a temporary folder, like the PyPI ones."""
    for number, data in enumerate(PARTS, start=1):
        package = tmp_path / "site" / f"fake_model_part{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(PARTS)
    return ChatModelSpec(
        "fake",
        "fake_model_part",
        "fake-model-part",
        3,
        "1.0",
        len(whole),
        hashlib.sha256(whole).hexdigest(),
    )


def test_parts_are_assembled_once_and_checked(fake_parts, tmp_path):
    path = assemble(fake_parts, tmp_path / "home", progress=False)
    assert path.read_bytes() == b"".join(PARTS)
    assert is_verified(fake_parts, path)
    mtime = path.stat().st_mtime_ns
    assert assemble(fake_parts, tmp_path / "home", progress=False) == path
    assert path.stat().st_mtime_ns == mtime, "a verified file is not assembled again"


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_half_written_or_changed_file_is_rebuilt(fake_parts, tmp_path, damage, capsys):
    path = assemble(fake_parts, tmp_path / "home", progress=False)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    else:
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10))
    assert not is_verified(fake_parts, path)
    assemble(fake_parts, tmp_path / "home", progress=False)
    assert path.read_bytes() == b"".join(PARTS)
    assert "assembling it again" in capsys.readouterr().err


def test_wrong_bytes_are_never_kept(fake_parts, tmp_path):
    wrong = ChatModelSpec(**{**fake_parts.__dict__, "sha256": "0" * 64})
    with pytest.raises(BotError, match="sha256"):
        assemble(wrong, tmp_path / "home", progress=False)
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_missing_part_package_is_named(fake_parts, tmp_path):
    missing = ChatModelSpec(**{**fake_parts.__dict__, "parts": 4})
    with pytest.raises(BotError, match=r"fake-model-part4==1\.0 is not installed"):
        assemble(missing, tmp_path / "home", progress=False)


def test_model_names_and_paths(tmp_path):
    with pytest.raises(BotError, match="unknown model 'huge'"):
        resolve_chat_model("huge", tmp_path)
    with pytest.raises(BotError, match="does not exist"):
        resolve_chat_model(str(tmp_path / "nope.gguf"), tmp_path)
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(BotError, match="not a GGUF"):
        resolve_chat_model(str(not_gguf), tmp_path)
    with pytest.raises(BotError, match="not a file"):
        resolve_chat_model(str(tmp_path), tmp_path)
    real = tmp_path / "ok.gguf"
    real.write_bytes(b"GGUF....")
    assert resolve_chat_model(str(real), tmp_path) == real


def test_registered_models_point_at_installed_parts():
    for spec in models.CHAT_MODELS.values():
        assert spec.part_file(1).is_file()
        assert spec.part_file(spec.parts).name == f"part{spec.parts:02d}.bin"


def test_only_the_most_recent_prompt_states_are_kept(tmp_path):
    from bot.llm import prune_saved_states

    for number in range(10):
        state = tmp_path / f"state{number}.npz"
        state.write_bytes(b"x")
        os.utime(state, ns=(number * 10**9, number * 10**9))
    (tmp_path / ".state.npz.abc.tmp").write_bytes(b"being written")
    prune_saved_states(tmp_path, keep=8)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == [f"state{n}.npz" for n in range(2, 10)]
    assert (tmp_path / ".state.npz.abc.tmp").exists()
