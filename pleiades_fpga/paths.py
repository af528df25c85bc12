"""Checks of the paths a command reads and writes, made before any work starts (each names the option)."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pleiades_fpga.errors import PleiadesError


@dataclass(frozen=True)
class OutputKind:
    """What a command writes to an output file. An existing file there is only replaced when ``recognize`` says
    it is an earlier output of this kind (an empty file too), so a mistyped path never destroys other results."""
    description: str
    recognize: Callable[[Path], bool]


def _json_with_keys(*keys: str) -> Callable[[Path], bool]:
    def recognize(path: Path) -> bool:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        return isinstance(data, dict) and all(k in data for k in keys)
    return recognize


def _starts_with(*magics: bytes) -> Callable[[Path], bool]:
    def recognize(path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError:
            return False
        return any(head.startswith(m) for m in magics) or b"<svg" in head
    return recognize


def _is_onnx(path: Path) -> bool:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - anything unreadable is not an ONNX model
        return False
    return len(model.graph.node) > 0


ONNX_MODEL = OutputKind("ONNX model", _is_onnx)
IMAGE = OutputKind("image (plot)", _starts_with(b"\x89PNG", b"%PDF", b"%!PS", b"\xff\xd8", b"II*\x00", b"MM\x00*",
                                                 b"RIFF", b"<?xml"))
TRAIN_METRICS = OutputKind("metrics.json written by `pleiades-fpga train`",
                           _json_with_keys("filtered_accuracy", "history", "test"))
EVAL_METRICS = OutputKind("metrics JSON written by `pleiades-fpga evaluate`",
                          _json_with_keys("filtered_accuracy", "latency_table", "trained_bin_us"))
DEMO_SUMMARY = OutputKind("demo.json written by `pleiades-fpga demo`", _json_with_keys("bit_exact", "seconds"))


def _path(path: str | Path, what: str) -> Path:
    if not str(path).strip():
        raise PleiadesError(f"{what} is an empty path; give a file or directory name")
    return Path(path)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable_parent(path: Path, what: str) -> None:
    anchor = _nearest_existing(path.parent)
    if not anchor.is_dir():
        raise PleiadesError(f"{what} {path}: {anchor} is a file, not a directory; choose another path")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PleiadesError(f"{what} {path}: cannot write into {anchor} (permission denied); choose a writable path")


def _same_file(a: Path, b: Path) -> bool:
    if a.absolute() == b.absolute() or a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_replaceable(path: Path, what: str, kind: OutputKind | None, inputs: Iterable[str | Path | None]) -> None:
    for source in inputs:
        if source is not None and str(source).strip() and _same_file(path, Path(source)):
            raise PleiadesError(f"{what} {path} is the same file as {source}, which this command also reads or "
                                "writes; give another output path")
    if kind is not None and path.is_file() and path.stat().st_size > 0 and not kind.recognize(path):
        raise PleiadesError(f"{what} {path} already exists and is not a {kind.description}; refusing to overwrite it: "
                            "choose another path (or remove the file)")


def check_output_dir(path: str | Path, what: str, *, files: Mapping[str, OutputKind] | None = None,
                     inputs: Iterable[str | Path | None] = ()) -> Path:
    """``path`` can be used (created if missing) as an output directory: not a file, and writable. ``files``
    (name inside it -> kind) are the files the command writes there: each is checked like
    :func:`check_output_file` (not one of ``inputs``, an existing one only replaced if of that kind)."""
    path = _path(path, what)
    inputs = list(inputs)
    for name, kind in (files or {}).items():
        file = path / name
        if file.is_dir():
            raise PleiadesError(f"{what} {path}: {file} is a directory; the command writes a file there, choose "
                                "another output directory")
        _check_replaceable(file, what, kind, inputs)
    if path.exists() and not path.is_dir():
        raise PleiadesError(f"{what} {path} is a file, not a directory; give a directory (it is created if missing)")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PleiadesError(f"{what} {path}: cannot write into it (permission denied); choose a writable directory")
    else:
        _check_writable_parent(path, what)
    return path


def check_output_file(path: str | Path, what: str, *, kind: OutputKind | None = None,
                      inputs: Iterable[str | Path | None] = ()) -> Path:
    """``path`` can be written as a file: not a directory, its directory writable (created if missing), not one
    of the command's ``inputs``, and (with ``kind``) either missing, empty or an earlier output of that kind."""
    path = _path(path, what)
    if path.is_dir():
        raise PleiadesError(f"{what} {path} is a directory; give a file name")
    _check_replaceable(path, what, kind, inputs)
    if path.exists() and not os.access(path, os.W_OK):
        raise PleiadesError(f"{what} {path}: the file is not writable; choose another path")
    _check_writable_parent(path, what)
    return path


def check_input_file(path: str | Path, what: str) -> Path:
    """``path`` is an existing, readable, non-empty file."""
    path = _path(path, what)
    if not path.exists():
        raise PleiadesError(f"{what} {path} does not exist; check the path")
    if not path.is_file():
        raise PleiadesError(f"{what} {path} is a directory, not a file; give the file inside it")
    if not os.access(path, os.R_OK):
        raise PleiadesError(f"{what} {path} is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise PleiadesError(f"{what} {path} is empty; it was probably not written completely, recreate it")
    return path


def check_plot_file(path: str | Path, what: str, *, inputs: Iterable[str | Path | None] = ()) -> Path:
    """:func:`check_output_file` for a plot: also an image format matplotlib writes, told by the extension."""
    path = check_output_file(path, what, kind=IMAGE, inputs=inputs)
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise PleiadesError(f"{what} {path}: {path.suffix or 'no extension'!s} is not an image format; end the name "
                            f"with one of {', '.join('.' + f for f in sorted(formats))} (e.g. latency.png)")
    return path
