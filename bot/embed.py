"""Embed stage: sentence-transformers on the CPU, or a hashing embedder for fast tests."""

from __future__ import annotations

import re
import zlib
from functools import cached_property

import numpy as np

from bot.errors import BotError
from bot.models import EMBEDDERS, package_version, resolve_embedder


class SentenceTransformerEmbedder:
    """Normalized embeddings from a local sentence-transformers model, loaded on first use."""

    def __init__(self, name: str):
        self.name = name
        self.path = resolve_embedder(name)
        package = name if name in EMBEDDERS else None
        self.fingerprint = f"{name}=={package_version(package)}" if package else str(self.path)

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # A progress bar for loading 90 MB from disk is noise in a chat or a JSON pipeline.
        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        try:
            return SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as error:  # a damaged model folder must not become a traceback
            raise BotError(f"embedder {self.name!r} could not be loaded: {error}") from None

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=16,  # small batches pad less: 1.7x faster on long sentences
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress and len(texts) > 256,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


class HashingEmbedder:
    """Bag of hashed words: deterministic, instant, no model. For tests and dry runs."""

    name = "hashing"
    fingerprint = "hashing-v1"
    dimension = 256

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def load_embedder(name: str):
    """Pick the backend from a name or a path (`hashing` for tests)."""
    if name == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(name)
