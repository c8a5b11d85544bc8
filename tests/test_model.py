"""Tests for monitor.asr.model_cache and model_load (bundled Whisper model) and the ``calmline model`` command.

Almost all tests use a tiny fake bundle (a few KiB of parts with a matching
sha256); one test prepares and loads the real bundled model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

import pytest

from monitor import cli
from monitor.asr import model_cache as m
from monitor.asr import model_load
from monitor.errors import CalmlineError

PART1 = bytes(range(256)) * 40  # 10 KiB
PART2 = b"second part of the fake model " * 300
FILES = {"config.json": b'{"fake": true}', "tokenizer.json": b"{}", "vocabulary.json": b"[]"}


def make_bundle(tmp_path: Path, *, sha: str | None = None) -> m.BundledModel:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "model.bin.part1").write_bytes(PART1)
    (src / "model.bin.part2").write_bytes(PART2)
    for name, data in FILES.items():
        (src / name).write_bytes(data)
    return m.BundledModel(
        name="fake-base",
        description="fake model",
        sha256=sha or hashlib.sha256(PART1 + PART2).hexdigest(),
        parts=(src / "model.bin.part1", src / "model.bin.part2"),
        files=tuple(src / name for name in FILES),
    )


@pytest.fixture
def bundle(tmp_path: Path) -> m.BundledModel:
    return make_bundle(tmp_path)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------- locations


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CALMLINE_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert m.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("CALMLINE_CACHE_DIR")
    assert m.cache_dir() == tmp_path / "xdg" / "calmline"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert m.cache_dir() == tmp_path / "home" / ".cache" / "calmline"


def test_default_bundle_dir_name(tmp_path):
    assert m.bundled_model_dir(cache=tmp_path) == tmp_path / "models" / "whisper-base-905e5bf8336b"


# ------------------------------------------------------------------ preparation


def test_prepare_joins_verifies_and_reports(bundle, cache):
    said: list[str] = []
    final = m.prepare_bundled_model(said.append, bundle=bundle, cache=cache)
    assert final == cache / "models" / f"fake-base-{bundle.sha256[:12]}"
    assert (final / "model.bin").read_bytes() == PART1 + PART2
    for name, data in FILES.items():
        assert (final / name).read_bytes() == data
    marker = json.loads((final / m.MARKER_NAME).read_text())
    assert marker["sha256"] == bundle.sha256 and marker["size"] == len(PART1 + PART2)
    assert said[-1].startswith("prepared fake model in ") and said[-1].endswith(" s")
    assert entries(final.parent) == [f".{final.name}.lock", final.name]  # no temp dirs left


def test_parts_found_through_installed_packages(tmp_path, cache, monkeypatch):
    pkg = tmp_path / "site" / "calmline_fake_bundle_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "model.bin.part1").write_bytes(PART1)
    (pkg / "data" / "model.bin.part2").write_bytes(PART2)
    (pkg / "data" / "config.json").write_bytes(FILES["config.json"])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    name = "calmline_fake_bundle_pkg"
    bundle = m.BundledModel(
        name="fake-base",
        description="fake model",
        sha256=hashlib.sha256(PART1 + PART2).hexdigest(),
        parts=(m.PackageFile(name, "data/model.bin.part1"), m.PackageFile(name, "data/model.bin.part2")),
        files=(m.PackageFile(name, "data/config.json"),),
    )
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    assert (final / "model.bin").read_bytes() == PART1 + PART2
    assert (final / "config.json").read_bytes() == FILES["config.json"]


def test_missing_package_is_a_clear_error(tmp_path, cache):
    bundle = m.BundledModel(
        name="fake-base",
        description="fake model",
        sha256="0" * 64,
        parts=(m.PackageFile("calmline_no_such_package_xyz", "data/model.bin.part1"),),
    )
    with pytest.raises(CalmlineError, match="calmline-no-such-package-xyz.*not installed"):
        m.prepare_bundled_model(bundle=bundle, cache=cache)
    assert not m.bundled_model_dir(bundle, cache).exists()


def test_checksum_failure_leaves_no_model(tmp_path, cache):
    bundle = make_bundle(tmp_path, sha="ab" * 32)
    with pytest.raises(CalmlineError, match="corrupt.*expected abababababab"):
        m.prepare_bundled_model(bundle=bundle, cache=cache)
    models = cache / "models"
    assert not m.bundled_model_dir(bundle, cache).exists()
    assert [e for e in entries(models) if not e.endswith(".lock")] == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError])
def test_interrupted_copy_leaves_no_model_and_next_run_succeeds(bundle, cache, monkeypatch, interruption):
    monkeypatch.setattr(m, "_CHUNK_SIZE", 1024)  # many chunks, so we can fail midway
    real_sha256 = hashlib.sha256

    class ExplodingHash:
        def __init__(self):
            self.inner, self.updates = real_sha256(), 0

        def update(self, data):
            self.updates += 1
            if self.updates == 5:  # model.bin is partly written by now
                raise interruption("interrupted midway")
            self.inner.update(data)

        def hexdigest(self):
            return self.inner.hexdigest()

    monkeypatch.setattr(m.hashlib, "sha256", ExplodingHash)
    with pytest.raises((interruption, CalmlineError)):
        m.prepare_bundled_model(bundle=bundle, cache=cache)
    final = m.bundled_model_dir(bundle, cache)
    assert not final.exists()
    assert [e for e in entries(final.parent) if not e.endswith(".lock")] == []

    monkeypatch.setattr(m.hashlib, "sha256", real_sha256)
    said: list[str] = []
    assert m.prepare_bundled_model(said.append, bundle=bundle, cache=cache) == final
    assert (final / "model.bin").read_bytes() == PART1 + PART2
    assert said[-1].startswith("prepared")


def test_leftover_temp_dir_from_a_killed_run_is_cleaned(bundle, cache):
    final = m.bundled_model_dir(bundle, cache)
    final.parent.mkdir(parents=True)
    stale = final.parent / f".{final.name}.tmp-killed"  # what a SIGKILL mid-copy leaves
    stale.mkdir()
    (stale / "model.bin").write_bytes(PART1[:100])
    m.prepare_bundled_model(bundle=bundle, cache=cache)
    assert entries(final.parent) == [f".{final.name}.lock", final.name]
    assert (final / "model.bin").read_bytes() == PART1 + PART2


def test_cache_is_reused_without_rewriting(bundle, cache, monkeypatch):
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    before = (final / "model.bin").stat().st_mtime_ns
    builds = []
    monkeypatch.setattr(m, "_build", lambda *a: builds.append(a))
    said: list[str] = []
    assert m.prepare_bundled_model(said.append, bundle=bundle, cache=cache) == final
    assert builds == []
    assert (final / "model.bin").stat().st_mtime_ns == before
    assert said == [f"using cached fake model at {final}"]


@pytest.mark.parametrize("damage", ["truncate", "no-marker", "no-config"])
def test_incomplete_cached_model_is_rebuilt(bundle, cache, damage):
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    if damage == "truncate":
        with (final / "model.bin").open("r+b") as fh:
            fh.truncate(100)
    elif damage == "no-marker":
        (final / m.MARKER_NAME).unlink()
    else:
        (final / "config.json").unlink()
    said: list[str] = []
    assert m.prepare_bundled_model(said.append, bundle=bundle, cache=cache) == final
    assert said[-1].startswith("prepared")
    assert (final / "model.bin").read_bytes() == PART1 + PART2
    assert m.check_bundled_model(bundle=bundle, cache=cache) == final
    assert entries(final.parent) == [f".{final.name}.lock", final.name]


# ------------------------------------------------------------------------ check


def test_check_passes_on_good_model(bundle, cache):
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    assert m.check_bundled_model(bundle=bundle, cache=cache) == final


def test_check_when_not_prepared(bundle, cache):
    with pytest.raises(CalmlineError, match="not prepared.*run `calmline model`"):
        m.check_bundled_model(bundle=bundle, cache=cache)


def test_check_detects_same_size_corruption(bundle, cache):
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    with (final / "model.bin").open("r+b") as fh:
        fh.seek(1234)
        fh.write(b"\xff")
    # The cheap check used on normal runs does not notice a flipped byte ...
    assert m.prepare_bundled_model(bundle=bundle, cache=cache) == final
    # ... the full check does.
    with pytest.raises(CalmlineError, match="model.bin in .* is corrupt"):
        m.check_bundled_model(bundle=bundle, cache=cache)


def test_check_detects_changed_json(bundle, cache):
    final = m.prepare_bundled_model(bundle=bundle, cache=cache)
    (final / "tokenizer.json").write_bytes(b"[1]")
    with pytest.raises(CalmlineError, match="tokenizer.json in .* is corrupt"):
        m.check_bundled_model(bundle=bundle, cache=cache)


# ---------------------------------------------------------------------- resolve


def test_resolve_model(bundle, cache, tmp_path):
    said: list[str] = []
    bundled = str(m.bundled_model_dir(bundle, cache))
    for spec in (None, "base", "bundled", "Bundled"):
        assert model_load.resolve_model(spec, said.append, bundle=bundle, cache=cache) == bundled
    assert said[0].startswith("preparing") and said[1].startswith("prepared")
    assert said[2].startswith("using cached")

    good = tmp_path / "mymodel"
    good.mkdir()
    (good / "model.bin").write_bytes(b"x")
    assert model_load.resolve_model(str(good), bundle=bundle, cache=cache) == str(good)
    assert model_load.resolve_model("small", bundle=bundle, cache=cache) == "small"
    assert model_load.resolve_model("Systran/faster-whisper-small", bundle=bundle, cache=cache) == "Systran/faster-whisper-small"

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CalmlineError, match="has no model.bin"):
        model_load.resolve_model(str(empty), bundle=bundle, cache=cache)
    with pytest.raises(CalmlineError, match="does not exist"):
        model_load.resolve_model(str(tmp_path / "missing"), bundle=bundle, cache=cache)
    with pytest.raises(CalmlineError, match="is a file"):
        model_load.resolve_model(str(good / "model.bin"), bundle=bundle, cache=cache)


def test_load_whisper_errors_are_clear(bundle, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CalmlineError, match="unknown device 'tpu'"):
        model_load.load_whisper(None, device="tpu", bundle=bundle, cache=cache)
    with pytest.raises(CalmlineError, match=r"could not load model small: .*no network access; pass a local directory"):
        model_load.load_whisper("small", bundle=bundle, cache=cache)
    with pytest.raises(CalmlineError, match="could not load model from .*fake-base"):
        model_load.load_whisper(None, bundle=bundle, cache=cache)  # the fake model.bin is not a model
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        with pytest.raises(CalmlineError, match="no CUDA GPU"):
            model_load.load_whisper(None, device="cuda", bundle=bundle, cache=cache)


# -------------------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(monkeypatch, capsys, bundle, cache):
    """Run ``calmline ...`` in-process with the fake bundle; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(m, "DEFAULT_BUNDLE", bundle)
    monkeypatch.setenv("CALMLINE_CACHE_DIR", str(cache))
    if not cli.app.registered_callback and len(cli.app.registered_commands) == 1:
        # Typer runs a lone command as the whole program, so `calmline model` only
        # parses once some other command (or a callback) exists; add a no-op
        # callback for the test, restored by monkeypatch afterwards.
        monkeypatch.setattr(cli.app, "registered_callback", None)
        cli.app.callback()(lambda: None)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(list(args))
        out, err = capsys.readouterr()
        return exit_info.value.code or 0, out, err

    return run


def test_cli_model_prepares_then_reports_cache(run_cli, bundle, cache):
    code, out, _ = run_cli("model")
    assert code == 0 and "prepared fake model" in out
    code, out, _ = run_cli("model")
    assert code == 0 and out.strip() == f"using cached fake model at {m.bundled_model_dir(bundle, cache)}"


def test_cli_model_path_prints_dir_last(run_cli, bundle, cache):
    final = m.bundled_model_dir(bundle, cache)
    code, out, err = run_cli("model", "--path")
    assert code == 0
    assert "prepared fake model" in err  # progress goes to stderr ...
    assert out.splitlines() == [str(final)]  # ... so stdout is only the directory
    assert (final / "model.bin").is_file()


def test_cli_model_check(run_cli, bundle, cache):
    code, _, err = run_cli("model", "--check")
    assert code == 2 and err.startswith("calmline: error: the fake model is not prepared")
    assert len(err.strip().splitlines()) == 1
    run_cli("model")
    code, out, _ = run_cli("model", "--check")
    assert code == 0 and "intact" in out
    with (m.bundled_model_dir(bundle, cache) / "model.bin").open("r+b") as fh:
        fh.write(b"corrupted")
    code, _, err = run_cli("model", "--check")
    assert code == 2 and "model.bin in" in err and "is corrupt" in err


# ------------------------------------------------------------- the real model


def test_real_bundled_model_prepares_and_loads(tmp_path):
    said: list[str] = []
    final = m.prepare_bundled_model(said.append, cache=tmp_path)
    assert final.name == "whisper-base-905e5bf8336b"
    assert (final / "model.bin").stat().st_size == 145_217_607
    assert m.check_bundled_model(cache=tmp_path) == final
    whisper = model_load.load_whisper(None, device="cpu", compute_type="int8", threads=os.cpu_count() or 1, cache=tmp_path)
    assert whisper.model.is_multilingual
