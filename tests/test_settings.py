from pathlib import Path

import pytest

from bot.errors import BotError
from bot.settings import Settings


def test_defaults_work_offline():
    settings = Settings.load()
    assert settings.model == "1.5b"
    assert settings.doc.is_file()
    assert (settings.prompts_dir / "system.txt").is_file()


def test_environment_then_flags(monkeypatch):
    monkeypatch.setenv("BOT_MODEL", "0.5b")
    monkeypatch.setenv("BOT_TOP_K", "9")
    monkeypatch.setenv("BOT_INDEX_DIR", "/tmp/somewhere")
    settings = Settings.load()
    assert (settings.model, settings.top_k, settings.index_dir) == (
        "0.5b",
        9,
        Path("/tmp/somewhere"),
    )
    assert Settings.load(model="x.gguf", top_k=None).model == "x.gguf"
    assert Settings.load(model="x.gguf").top_k == 9


def test_bad_values_are_clear_errors(monkeypatch):
    monkeypatch.setenv("BOT_THREADS", "many")
    with pytest.raises(BotError, match="BOT_THREADS: expected a non-negative int"):
        Settings.load()


def test_server_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BOT_ALLOWED_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("BOT_PORT", "8080")
    settings = Settings.load()
    assert settings.origins == ["http://a.example", "http://b.example"]
    assert (settings.port, settings.host) == (8080, "127.0.0.1")
