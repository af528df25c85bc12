"""Checks of the paths a command reads and writes, made before any work starts (each names the option)."""
from __future__ import annotations

import os
from pathlib import Path

from pleiades_fpga.errors import PleiadesError


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


def check_output_dir(path: str | Path, what: str) -> Path:
    """``path`` can be used (created if missing) as an output directory: not a file, and writable."""
    path = _path(path, what)
    if path.exists() and not path.is_dir():
        raise PleiadesError(f"{what} {path} is a file, not a directory; give a directory (it is created if missing)")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PleiadesError(f"{what} {path}: cannot write into it (permission denied); choose a writable directory")
    else:
        _check_writable_parent(path, what)
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """``path`` can be written as a file: not a directory, its directory writable (created if missing)."""
    path = _path(path, what)
    if path.is_dir():
        raise PleiadesError(f"{what} {path} is a directory; give a file name")
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
