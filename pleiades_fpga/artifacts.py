"""Build-directory artifacts: atomic writes and the design hash that ties every result to its design.

Every result written into a build directory (verification, synthesis, place and route, reports) records
``design_hash(build_dir)`` of the design it was made from; a reader compares it with the current hash
(:func:`is_current`) and refuses or labels a stale result. Files are written atomically (temporary name in
the same directory, then ``os.replace``), so a failing command never leaves a half-written file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HASH_KEY = "design_hash"


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN/inf) and numpy scalars as Python."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically; NaN/inf become null, so the file is always valid JSON."""
    return write_text_atomic(path, json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n")


def write_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return Path(path)


def design_hash(build_dir: str | Path) -> str | None:
    """Hash of the design in ``build_dir``: manifest.json, every RTL file it lists, and model.onnx.

    None when the directory holds no RTL build (no manifest.json)."""
    build_dir = Path(build_dir)
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.is_file():
        return None
    h = hashlib.sha256()
    raw = manifest_path.read_bytes()
    h.update(raw)
    try:
        files = json.loads(raw).get("rtl_files", [])
    except ValueError:
        files = []
    for rel in sorted(files) + ["model.onnx"]:
        p = build_dir / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.is_file() else b"<missing>")
    return h.hexdigest()[:16]


def is_current(build_dir: str | Path, artifact: dict[str, Any]) -> bool:
    """Whether ``artifact`` (a result dict read from ``build_dir``) was made from the design now there."""
    current = design_hash(build_dir)
    return current is not None and artifact.get(HASH_KEY) == current


__all__ = ["HASH_KEY", "atomic_path", "design_hash", "is_current", "write_json_atomic", "write_npz_atomic",
           "write_text_atomic"]
