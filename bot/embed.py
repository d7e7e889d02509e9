"""Embed stage: sentence-transformers on the CPU, or a hashing embedder for fast tests."""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from functools import cached_property

import numpy as np

from bot.errors import BotError
from bot.models import EMBEDDERS, package_version, resolve_embedder

# A question or two is embedded on one thread: short sequences gain little from a second one,
# and when llama.cpp is generating on the other core, two torch threads wait on each other
# (measured while a model ran beside it: 10 ms on one thread, 53 ms on two).
QUERY_TEXTS = 8


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch on `threads` threads inside the block (0: leave it as it is)."""
    import torch

    before = torch.get_num_threads()
    if threads and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class SentenceTransformerEmbedder:
    """Normalized embeddings from a local sentence-transformers model, loaded on first use."""

    def __init__(self, name: str, threads: int = 1):
        self.name = name
        self.path = resolve_embedder(name)
        # torch threads; 0 = torch's default (all cores). One: see EmbeddingPool for why.
        self.threads = threads

    @cached_property
    def bf16(self) -> bool:
        """Compute in bfloat16 where the CPU does it natively (AVX512-BF16, AMX): about 2x
        faster, and retrieval measured the same (docs/BENCHMARKS.md). Elsewhere bfloat16 is
        emulated and slower, so float32 stays."""
        try:
            import torch

            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:  # an older or different torch: stay with float32
            return False

    @cached_property
    def fingerprint(self) -> str:
        package = self.name if self.name in EMBEDDERS else None
        base = f"{self.name}=={package_version(package)}" if package else str(self.path)
        return base + ("+bf16" if self.bf16 else "")

    @cached_property
    def model(self):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # A progress bar for loading 90 MB from disk is noise in a chat or a JSON pipeline.
        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as error:  # a damaged model folder must not become a traceback
            raise BotError(f"embedder {self.name!r} could not be loaded: {error}") from None
        return model.to(torch.bfloat16) if self.bf16 else model

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with torch_threads(1 if len(texts) <= QUERY_TEXTS else self.threads):
            vectors = model.encode(
                texts,
                batch_size=16,  # small batches pad less: 1.7x faster on long sentences
                convert_to_tensor=True,
                show_progress_bar=progress and len(texts) > 256,
            )
        vectors = vectors.float().numpy().reshape(len(texts), -1)
        # Normalized here, in float32: bfloat16's own normalization is off by up to 0.5%.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def pool(self, workers: int) -> EmbeddingPool:
        """Processes that embed as this embedder does (same model, same precision)."""
        return EmbeddingPool(self.name, workers, self.threads or 1)

    def token_counts(self, texts: list[str]) -> list[int]:
        """How many tokens of each text the model reads (what its mean pooling averages)."""
        tokenizer, limit = self.model.tokenizer, self.model.max_seq_length
        ids = tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
        return [len(row) for row in ids]


class EmbeddingPool:
    """Embeds on several processes (one torch thread each by default), for large indexing jobs.

    MiniLM gains little from a second torch thread (1.1x), and when anything else keeps a
    core busy, two threads in one process wait on each other: 20 sentences/s against 265 on
    one thread, measured with llama.cpp running beside it. Processes share nothing, so two of
    them on two cores do twice the work of one.
    """

    def __init__(self, name: str, workers: int, threads: int = 1):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_start_worker,
            initargs=(name, threads),
        )

    def submit(self, texts: list[str]):
        """A future of (normalized vectors as float16, token counts) for these texts."""
        return self._executor.submit(_encode_in_worker, texts)

    def close(self, cancel: bool = False) -> None:
        self._executor.shutdown(wait=True, cancel_futures=cancel)


_worker_embedder: SentenceTransformerEmbedder | None = None


def _start_worker(name: str, threads: int) -> None:
    global _worker_embedder
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch.set_num_threads(threads)
    _worker_embedder = SentenceTransformerEmbedder(name, threads=threads)


def _encode_in_worker(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    vectors = _worker_embedder.encode(texts).astype(np.float16)
    return vectors, np.asarray(_worker_embedder.token_counts(texts), dtype=np.int32)


class HashingEmbedder:
    """Bag of hashed words: deterministic, instant, no model. For tests and dry runs."""

    name = "hashing"
    fingerprint = "hashing-v1"
    dimension = 256

    def token_counts(self, texts: list[str]) -> list[int]:
        return [len(re.findall(r"\w+", text)) for text in texts]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def load_embedder(name: str, threads: int = 1):
    """Pick the backend from a name or a path (`hashing` for tests)."""
    if name == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(name, threads)
