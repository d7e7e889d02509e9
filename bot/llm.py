"""Generate stage: a chat model behind one small interface, picked by name or path."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from bot import atomic
from bot.errors import BotError
from bot.settings import Settings

Messages = list[dict[str, str]]


class LLM(Protocol):
    name: str

    def stream(
        self, messages: Messages, max_tokens: int, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield the reply to a chat, piece by piece."""
        ...


class LlamaCppLLM:
    """A GGUF model run in-process by llama.cpp; calls are serialized (it is not thread-safe)."""

    def __init__(self, model_path: str, settings: Settings, judge: tuple[float, ...] | None = None):
        from llama_cpp import Llama

        self.name = str(model_path)
        self.judge_thresholds = judge  # (supported, doubted[, over passages]), measured
        self.temperature = settings.temperature
        try:
            self.llama = Llama(
                model_path=str(model_path),
                n_ctx=settings.n_ctx,
                n_threads=settings.threads,
                n_batch=512,
                seed=settings.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            raise BotError(f"llama.cpp could not load {model_path}: {error}") from None
        self.lock = threading.Lock()

    def stream(
        self, messages: Messages, max_tokens: int, stop: list[str] | None = None
    ) -> Iterator[str]:
        with self.lock:
            for chunk in self.llama.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=self.temperature,
                stop=stop or [],
                stream=True,
            ):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def judge(self, messages: Messages) -> float:
        """How much likelier the reply is to start with "Yes" than with "No" (a logit margin).

        One forward pass over what the prompt adds to the cached prefix, and no sampling: a
        calibrated yes/no that a generated "Yes" would not give.
        """
        from llama_cpp import LogitsProcessorList

        seen: list[np.ndarray] = []

        def keep(_ids, scores):
            seen.append(scores.copy())
            return scores

        with self.lock:
            self.llama.create_chat_completion(
                messages=messages,
                max_tokens=1,
                temperature=0.0,
                logits_processor=LogitsProcessorList([keep]),
            )
        logits = seen[0]
        yes = max(logits[t] for t in self._first_tokens("Yes", "yes"))
        no = max(logits[t] for t in self._first_tokens("No", "no"))
        return float(yes - no)

    def _first_tokens(self, *words: str) -> list[int]:
        return [self.llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words]

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    @property
    def fingerprint(self) -> str:
        """What a saved prompt state depends on, besides the prompt: file, context, library."""
        import llama_cpp

        stat = Path(self.name).stat()
        return (
            f"{self.name}:{stat.st_size}:{stat.st_mtime_ns}:{self.llama.n_ctx()}:"
            f"{llama_cpp.__version__}"
        )

    def save_state(self, path: Path) -> None:
        """Store the evaluated prompt (KV cache and tokens) so a new process can skip reading it.

        Only the last logits row matters for the next token, and llama.cpp recomputes it when
        the next prompt extends this one, so the per-token logits (hundreds of MB) are not kept.
        """
        with self.lock:
            state = self.llama.save_state()
        with atomic.atomic_file(path, "wb") as handle:
            np.savez(
                handle,
                input_ids=state.input_ids,
                n_tokens=state.n_tokens,
                seed=state.seed,
                llama_state=np.frombuffer(state.llama_state, np.uint8),
            )
        prune_saved_states(Path(path).parent)

    def load_state(self, path: Path) -> bool:
        """Restore a state saved by `save_state`; False (and the file removed) if it is unusable."""
        from llama_cpp import LlamaState

        try:
            with np.load(path) as data:
                raw = data["llama_state"].tobytes()
                state = LlamaState(
                    input_ids=data["input_ids"],
                    n_tokens=int(data["n_tokens"]),
                    scores=np.zeros((1, self.llama.n_vocab()), dtype=np.float32),
                    llama_state=raw,
                    llama_state_size=len(raw),
                    seed=int(data["seed"]),
                )
            if len(state.input_ids) != self.llama.n_ctx():
                raise ValueError("saved for another context size")
            with self.lock:
                self.llama.load_state(state)
            return True
        except FileNotFoundError:
            return False
        except Exception:  # truncated, corrupt or foreign: recompute rather than trust it
            Path(path).unlink(missing_ok=True)
            with self.lock:
                self.llama.reset()
            return False


SAVED_STATES_KEPT = 8  # one per model, document and prompt version in recent use


def prune_saved_states(directory: Path, keep: int = SAVED_STATES_KEPT) -> None:
    """Keep the most recently written prompt states; older ones belong to old prompts."""
    states = sorted(Path(directory).glob("*.npz"), key=lambda p: p.stat().st_mtime_ns)
    for stale in states[:-keep] if keep else states:
        stale.unlink(missing_ok=True)


class FakeLLM:
    """A stand-in model for tests: replies from a function of the messages, streamed word by word.

    The default reply is extractive: the numbered context sentence sharing most words with the
    question, cited by its number, or the refusal marker when none shares any.
    """

    name = "fake"

    def __init__(
        self,
        reply: Callable[[Messages], str] | str | None = None,
        verdict: Callable[[Messages], float] | float | None = None,
    ):
        self.reply = reply
        self.verdict = verdict
        from bot.models import CHAT_MODELS

        # the 1.5B's; the default verdicts (+-3) are clear
        self.judge_thresholds = CHAT_MODELS["1.5b"].judge
        self.calls: list[Messages] = []  # what was sent to stream()
        self.judged: list[Messages] = []  # what was sent to judge()

    def stream(
        self, messages: Messages, max_tokens: int, stop: list[str] | None = None
    ) -> Iterator[str]:
        self.calls.append(messages)
        if callable(self.reply):
            text = self.reply(messages)
        elif isinstance(self.reply, str):
            text = self.reply
        else:
            text = extractive_reply(messages)
        yield from re.findall(r"\S+\s*|\s+", text)

    def judge(self, messages: Messages) -> float:
        """A clear yes (3.0) when the quoted sentence holds over a quarter of the question's
        content words, else a clear no (-3.0)."""
        from bot.attribute import content_words

        self.judged.append(messages)
        if self.verdict is not None:
            return self.verdict(messages) if callable(self.verdict) else float(self.verdict)
        quoted = re.search(r"^Sentence \[\d+\]: (.*)$", messages[-1]["content"], flags=re.M)
        asked = re.search(r"^Question: (.*)$", messages[-1]["content"], flags=re.M)
        if not quoted or not asked:
            return -3.0
        words = content_words(asked.group(1))
        shared = len(words & content_words(quoted.group(1))) / max(1, len(words))
        return 3.0 if shared > 0.25 else -3.0

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def extractive_reply(messages: Messages) -> str:
    from bot.attribute import content_words

    question = messages[-1]["content"]
    context = "\n".join(m["content"] for m in messages if m["role"] == "system")
    asked = content_words(question)
    best, best_overlap = None, 0
    for number, sentence in re.findall(r"^\[(\d+)\] (.+)$", context, flags=re.M):
        overlap = len(asked & content_words(sentence))
        if overlap > best_overlap:
            best, best_overlap = (number, sentence), overlap
    if best is None:
        return "NOT IN DOCUMENT"
    return f"{best[1]} [{best[0]}]"


def load_llm(settings: Settings) -> LLM:
    """Pick the backend: a server at `llm_url`, else by the model setting: `fake`, a registered
    name, or a .gguf path."""
    if settings.llm_url:
        from bot.remote import RemoteLLM

        return RemoteLLM(settings.llm_url, settings)
    if settings.model == "fake":
        return FakeLLM()
    from bot.models import CHAT_MODELS, resolve_chat_model

    spec = CHAT_MODELS.get(settings.model.strip().lower())
    path = resolve_chat_model(settings.model, settings.home)
    return LlamaCppLLM(str(path), settings, judge=spec.judge if spec else None)
