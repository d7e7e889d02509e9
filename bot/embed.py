"""Embed stage: a sentence-transformers model on the CPU (run by OpenVINO or torch), or a
hashing embedder for fast tests."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

from bot import atomic
from bot.errors import BotError
from bot.models import EMBEDDERS, package_version, resolve_embedder

BACKENDS = ("openvino", "torch")

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


def _model_id(name: str, path: Path) -> str:
    """A registered embedder by its package version, any other by its folder."""
    package = name if name in EMBEDDERS else None
    return f"{name}=={package_version(package)}" if package else str(path)


def _quiet_transformers() -> None:
    """No progress bar or warnings from transformers: noise in a chat or a JSON pipeline."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


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
        return _model_id(self.name, self.path) + ("+bf16" if self.bf16 else "")

    @cached_property
    def model(self):
        import torch
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()
        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as error:  # a damaged model folder must not become a traceback
            raise BotError(f"embedder {self.name!r} could not be loaded: {error}") from None
        return model.to(torch.bfloat16) if self.bf16 else model

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed it; the old name still works there, with a warning.
        named = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(named())

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


# Texts per inference call: short batches pad less, and keep every stream busy.
OPENVINO_BATCH = 16


class OpenVinoEmbedder:
    """The same sentence-transformers model, run by OpenVINO: 1.5x the sentences a second of
    torch on the same two cores, with vectors at cosine > 0.9999 to torch's float32 ones.

    The model is converted from its torch weights once (about 4 s) and kept in the model
    cache. OpenVINO computes in bfloat16 where the CPU does it natively, and runs one
    inference stream per core, each on one thread: a question is embedded on one core while
    llama.cpp keeps the other, and bulk work fills both. sentence-transformers' own OpenVINO
    backend would need optimum-intel, whose releases pin transformers and torch versions this
    project cannot take (torch must stay the CPU build); the model, its tokenizer and its mean
    pooling are the same ones sentence-transformers reads.
    """

    def __init__(self, name: str, home: Path, streams: int = 0):
        self.name = name
        self.path = resolve_embedder(name)
        self.home = Path(home)
        self.streams = streams or os.cpu_count() or 1

    @cached_property
    def _core(self):
        try:
            import openvino
        except ImportError:
            raise BotError(
                "the openvino backend needs the openvino package; run `make install`, "
                "or set BOT_EMBED_BACKEND=torch"
            ) from None
        return openvino.Core()

    @cached_property
    def precision(self) -> str:
        capabilities = self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        return "bf16" if "BF16" in capabilities else "f32"

    @cached_property
    def max_length(self) -> int:
        """Tokens the model reads, as sentence-transformers configures it; mean pooling only."""
        config = self.path / "sentence_bert_config.json"
        pooling = self.path / "1_Pooling" / "config.json"
        try:
            limit = int(json.loads(config.read_text())["max_seq_length"])
            mean = json.loads(pooling.read_text()).get("pooling_mode_mean_tokens")
        except (OSError, ValueError, KeyError):
            mean, limit = None, 0
        if not mean:
            raise BotError(
                f"embedder {self.name!r} is not a mean-pooled sentence-transformers model; "
                "set BOT_EMBED_BACKEND=torch to run it"
            )
        return limit

    @cached_property
    def fingerprint(self) -> str:
        return f"{_model_id(self.name, self.path)}+openvino-{self.precision}"

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        if self.max_length <= 0:
            raise BotError(f"embedder {self.name!r} gives no max_seq_length")
        if not (self.path / "tokenizer.json").is_file():
            raise BotError(
                f"embedder {self.name!r} has no tokenizer.json; "
                "set BOT_EMBED_BACKEND=torch to run it"
            )
        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_length)
        return tokenizer

    def conversion_key(self) -> str:
        """What the converted model depends on.

        A registered embedder is known by its package version, which pins its files: a new venv
        reinstalls them with new file times, and keying on those made the first process of
        every venv convert again (torch loaded into it: 5 s and 0.5 GB more at start-up). Any
        other folder is known by its weights' size and time.
        """
        stamp = ""
        weights = self.path / "model.safetensors"
        if self.name not in EMBEDDERS and weights.exists():
            stat = weights.stat()
            stamp = f"{stat.st_size}-{stat.st_mtime_ns}"
        text = f"{self.fingerprint}|{package_version('openvino')}|{stamp}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _converted(self) -> Path:
        """The model in OpenVINO's format, converted on first use and kept in the cache."""
        folder = self.home / "embedders" / f"{self.path.name}-{self.conversion_key()}"
        xml = folder / "model.xml"

        def ready() -> bool:
            return xml.is_file() and (folder / "model.bin").is_file()

        if ready():
            return xml
        # One conversion at a time per model (a server and `bot index` started together):
        # the second waits for the first and then uses its result.
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f".{folder.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not ready():
                self._convert_into(folder)
        return xml

    def _convert_into(self, folder: Path) -> None:
        import warnings

        import openvino
        import torch
        from transformers import AutoModel

        from bot.models import log

        log(f"Preparing the embedder {self.name} for OpenVINO (once, a few seconds)...")
        _quiet_transformers()
        try:
            model = AutoModel.from_pretrained(
                str(self.path), local_files_only=True, attn_implementation="eager"
            ).eval()
        except Exception as error:  # a damaged model folder must not become a traceback
            raise BotError(f"embedder {self.name!r} could not be loaded: {error}") from None
        example = {
            "input_ids": torch.ones((2, 8), dtype=torch.long),
            "attention_mask": torch.ones((2, 8), dtype=torch.long),
        }
        # Tracing warns about Python branches it freezes; those depend on the model's
        # configuration, not on the input, so the converted model is general.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            with atomic.atomic_directory(folder) as tmp:
                converted = openvino.convert_model(model, example_input=example)
                openvino.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)

    @cached_property
    def _compiled(self):
        _ = self.tokenizer  # a model this backend cannot read fails before any conversion
        return self._core.compile_model(
            str(self._converted()),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": self.precision,
                "PERFORMANCE_HINT": "THROUGHPUT",
                "NUM_STREAMS": self.streams,
                "INFERENCE_NUM_THREADS": self.streams,
            },
        )

    @cached_property
    def dimension(self) -> int:
        return int(self._compiled.outputs[0].get_partial_shape()[2].get_length())

    def _inputs(self, texts: list[str]) -> dict[str, np.ndarray]:
        rows = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        width = max(len(row) for row in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    @staticmethod
    def _pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        compiled = self._compiled
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) <= QUERY_TEXTS:  # a question: one request, on one core
            inputs = self._inputs(texts)
            hidden = compiled.create_infer_request().infer(inputs)[0]
            vectors[:] = self._pooled(hidden, inputs["attention_mask"])
        else:
            # One request per stream, taken in turn, all waited on from this thread: OpenVINO's
            # callbacks would run Python in its own threads, where a garbage collection that
            # frees another embedder's requests aborts the process (two uploads at once).
            requests = [compiled.create_infer_request() for _ in range(self.streams)]
            running: list = [None] * len(requests)  # (rows, attention mask) of each request

            def collect(slot: int) -> None:
                requests[slot].wait()
                rows, mask = running[slot]
                vectors[rows] = self._pooled(requests[slot].get_output_tensor(0).data, mask)
                running[slot] = None

            # Longest first, in batches of similar length, so that little is padding.
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            for number, start in enumerate(range(0, len(order), OPENVINO_BATCH)):
                slot = number % len(requests)
                if running[slot] is not None:
                    collect(slot)
                rows = order[start : start + OPENVINO_BATCH]
                inputs = self._inputs([texts[i] for i in rows])
                requests[slot].start_async(inputs)
                running[slot] = (rows, inputs["attention_mask"])
            for slot in range(len(requests)):
                if running[slot] is not None:
                    collect(slot)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def token_counts(self, texts: list[str]) -> list[int]:
        """How many tokens of each text the model reads (what its mean pooling averages)."""
        return [len(encoding.ids) for encoding in self.tokenizer.encode_batch(texts)]


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


def load_embedder(name: str, threads: int = 1, backend: str = "torch", home: Path | None = None):
    """Pick the backend from a name or a path (`hashing` for tests) and a backend name."""
    if name == "hashing":
        return HashingEmbedder()
    if backend not in BACKENDS:
        raise BotError(f"embedding backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "openvino":
        if home is None:
            raise BotError("the openvino backend needs a folder to keep the converted model in")
        return OpenVinoEmbedder(name, home, streams=threads if threads > 1 else 0)
    return SentenceTransformerEmbedder(name, threads)


def embedder_for(settings):
    """The embedder the settings name, with their backend, threads and model cache."""
    return load_embedder(
        settings.embedder, settings.embed_threads, settings.embed_backend, settings.home
    )
