"""Loading a Whisper model for faster-whisper, offline: the bundled base model
(prepared on first use by :mod:`monitor.asr.model_cache`), a local directory, or a
model name already in the local cache; errors a user can act on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.asr.model_cache import BUNDLED_NAMES, BundledModel, Say, prepare_bundled_model
from monitor.errors import CalmlineError

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

__all__ = ["load_whisper", "resolve_model"]


def resolve_model(
    spec: str | None,
    say: Say | None = None,
    *,
    bundle: BundledModel | None = None,
    cache: Path | None = None,
) -> str:
    """Turn a ``--model`` value into what ``faster_whisper.WhisperModel`` takes.

    * ``None``, ``"base"`` or ``"bundled"``: the bundled model's directory,
      prepared on first use (with a message through ``say``);
    * an existing directory: that directory (it must contain ``model.bin``);
    * something written as a path (absolute, or starting with ``.`` or ``~``)
      that does not exist: :class:`CalmlineError`;
    * anything else: returned unchanged, as a faster-whisper model name
      (``"small"``, ``"Systran/faster-whisper-small"``), which
      :func:`load_whisper` can only load if it is already in the local
      Hugging Face cache.
    """
    if spec is None or spec.strip().lower() in BUNDLED_NAMES:
        return str(prepare_bundled_model(say, bundle=bundle, cache=cache))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise CalmlineError(
                f"model directory {path} has no model.bin"
                " (expected a CTranslate2 Whisper model: model.bin, config.json, tokenizer.json)"
            )
        return str(path)
    if path.exists():
        raise CalmlineError(f"model {spec} is a file; pass the directory that contains model.bin")
    if path.is_absolute() or spec.startswith((".", "~")):
        raise CalmlineError(f"model directory {spec} does not exist")
    return spec


def load_whisper(
    spec: str | None = None,
    device: str = "cpu",
    compute_type: str = "default",
    threads: int = 0,
    *,
    workers: int = 1,
    say: Say | None = None,
    bundle: BundledModel | None = None,
    cache: Path | None = None,
) -> WhisperModel:
    """Load a faster-whisper model without touching the network.

    ``spec`` is resolved with :func:`resolve_model` (``None`` = bundled model).
    ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"``; ``compute_type`` any
    CTranslate2 compute type (``"default"``, ``"int8"``, ``"float16"``, ...);
    ``threads`` the CPU threads (0 = CTranslate2's default) of each of ``workers``
    model calls that may run at once (from as many Python threads; the weights are
    shared).

    Raises :class:`CalmlineError` with a one-line explanation when the device is
    unknown or unavailable, or the model cannot be loaded (for example a model
    name that would need a download).
    """
    if device not in ("cpu", "cuda", "auto"):
        raise CalmlineError(f"unknown device {device!r}; use cpu, cuda or auto")
    if threads < 0:
        raise CalmlineError(f"threads must be 0 (automatic) or more, not {threads}")
    if device == "cuda":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() < 1:
            raise CalmlineError("device cuda requested but no CUDA GPU is available; use --device cpu")

    path = resolve_model(spec, say, bundle=bundle, cache=cache)
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            path,
            device=device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=True,
        )
    except Exception as exc:  # ctranslate2/huggingface raise many kinds
        if os.path.isdir(path):
            raise CalmlineError(
                f"could not load model from {path} on {device} ({compute_type}): {one_line(exc)}"
            ) from exc
        raise CalmlineError(
            f"could not load model {spec}: {_name_failure(exc)}"
        ) from exc



def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name_failure(exc: BaseException) -> str:
    """Say briefly why faster-whisper could not find a model given by name."""
    text = str(exc)
    if type(exc).__name__ == "LocalEntryNotFoundError" or "outgoing traffic has been disabled" in text:
        return (
            "it is not in the local Hugging Face cache and would need a download"
            " (no network access; pass a local directory)"
        )
    if text.startswith("Invalid model size"):
        return "not a known faster-whisper model name nor an existing directory (pass a local directory)"
    return f"{one_line(exc)} (no network access; pass a local directory)"
