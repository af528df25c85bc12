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
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError

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


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    The file gets the permissions an ordinary ``open(path, "w")`` would give (0666 less the umask), not
    ``mkstemp``'s private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
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
    """Hash of the design in ``build_dir``: manifest.json (all but its "name", the directory's name), every
    RTL file it lists, and model.onnx; so a copied directory rebuilt with the same design keeps its hash.

    None when the directory holds no RTL build (no manifest.json)."""
    build_dir = Path(build_dir)
    manifest_path = build_dir / "manifest.json"
    if not manifest_path.is_file():
        return None
    h = hashlib.sha256()
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError:
        manifest = None
    if isinstance(manifest, dict):
        h.update(json.dumps({k: v for k, v in manifest.items() if k != "name"}, sort_keys=True).encode())
        files = manifest.get("rtl_files", [])
    else:
        h.update(raw)
        files = []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
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


# --- results of a build directory and their design hashes -------------------------------------------------

#: What a backend writes as the design itself (replaced by a rebuild, never judged by a hash).
DESIGN_ENTRIES = ("model.onnx", "manifest.json", "rtl", "folding.json", "ir.txt", "float.pt", "hls4ml",
                  "synth_hls4ml.sh", "finn")
#: Result files: the first of each group records the hash; the others belong to it.
RESULT_FILES = (("verification.json", "verification.npz"), ("report.json", "report.html"), ("demo.json",))
#: Directories of tool results (one sub-directory per part / board), each with a :data:`STAMP` file.
RESULT_DIRS = ("synth", "board")
STAMP = "design_hash.json"
STALE_DIR = "stale"
PARTIAL = ".partial"


def foreign_entries(out_dir: str | Path) -> list[str]:
    """Entries no build writes, in an existing directory that holds no build (no manifest.json): a build there
    would mix its files with someone else's (e.g. a training directory)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir() or (out_dir / "manifest.json").exists():
        return []
    known = {*DESIGN_ENTRIES, *(name for group in RESULT_FILES for name in group), *RESULT_DIRS, STALE_DIR}
    return sorted(p.name for p in out_dir.iterdir() if p.name not in known)


def _json_hash(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get(HASH_KEY) if isinstance(data, dict) else None


def results(build_dir: str | Path) -> list[tuple[list[str], str | None]]:
    """Every result in ``build_dir``: (relative paths of the group, design hash it records or None)."""
    build_dir = Path(build_dir)
    out: list[tuple[list[str], str | None]] = []
    for group in RESULT_FILES:
        present = [name for name in group if (build_dir / name).exists()]
        if present:
            head = build_dir / group[0]
            out.append((present, _json_hash(head) if head.exists() else None))
    for kind in RESULT_DIRS:
        root = build_dir / kind
        if root.is_dir():
            for sub in sorted(root.iterdir()):
                if sub.is_dir() and not sub.name.endswith(PARTIAL):
                    out.append(([f"{kind}/{sub.name}"], _json_hash(sub / STAMP)))
    return out


def stamp_dir(directory: str | Path, build_dir: str | Path, **info: Any) -> Path:
    """Record in ``directory/design_hash.json`` that its results belong to the design now in ``build_dir``."""
    return write_json_atomic(Path(directory) / STAMP, {HASH_KEY: design_hash(build_dir), **info})


def dir_is_current(directory: str | Path, build_dir: str | Path) -> bool:
    """Whether the tool results in ``directory`` were stamped with the design now in ``build_dir``."""
    return is_current(build_dir, {HASH_KEY: _json_hash(Path(directory) / STAMP)})


def move_aside(build_dir: str | Path, entries: list[str]) -> Path:
    """Move ``entries`` (paths relative to ``build_dir``) into a new ``build_dir/stale/<UTC time>/``; return it."""
    build_dir = Path(build_dir)
    base = build_dir / STALE_DIR / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest, n = base, 1
    while dest.exists():
        n += 1
        dest = base.with_name(f"{base.name}-{n}")
    for rel in entries:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(build_dir / rel, target)
    return dest


def _replace_entry(src: Path, dst: Path) -> None:
    """Move file or directory ``src`` to ``dst``, replacing what is there (a directory, or a file where a
    directory goes, via a rename aside)."""
    if (dst.is_dir() or src.is_dir()) and (dst.exists() or dst.is_symlink()):
        trash = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
        os.replace(dst, trash / dst.name)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)


@contextmanager
def staged_build(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory named like ``out_dir`` (beside it); when the block succeeds its
    contents are published into ``out_dir`` (:func:`publish_build`), when it fails ``out_dir`` is untouched."""
    out_dir = Path(os.path.abspath(out_dir))       # "a/b/.." -> "a": the staging name needs a real leaf
    if out_dir.exists() and not out_dir.is_dir():
        raise PleiadesError(f"output directory {out_dir} is a file; pass a directory with --out")
    if not out_dir.name:
        raise PleiadesError(f"output directory {out_dir} is a file-system root; pass a directory below it with --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        staging = tmp / out_dir.name
        staging.mkdir()
        yield staging
        publish_build(staging, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_build(staging: Path, out_dir: Path) -> Path | None:
    """Move a freshly built design from ``staging`` into ``out_dir``.

    Every result recording another design hash than the new design's (or none) and, when the design
    differs from the one in ``out_dir``, the old design files the new build does not write are moved into
    ``out_dir/stale/<time>/`` first (said on the console); return that directory, or None."""
    new = design_hash(staging)
    out_dir.mkdir(parents=True, exist_ok=True)
    produced = {p.name for p in staging.iterdir()}
    aside = [rel for group, h in results(out_dir) if h != new for rel in group]
    if design_hash(out_dir) != new:
        aside += [e for e in DESIGN_ENTRIES if e not in produced and (out_dir / e).exists()]
    stale = move_aside(out_dir, aside) if aside else None
    if stale is not None:
        print(f"{out_dir}: moved results of another design to {stale}: {', '.join(aside)}", file=sys.stderr)
    for name in sorted(produced, key=lambda n: n == "manifest.json"):  # manifest last: it names the files
        _replace_entry(staging / name, out_dir / name)
    return stale


def staging_dir(final: str | Path) -> Path:
    """``final.partial``, emptied: where a tool run writes before :func:`publish_dir` (a failed run's logs stay
    there for inspection; the results in ``final`` stay as they were)."""
    final = Path(final)
    staging = final.with_name(final.name + PARTIAL)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish_dir(staging: str | Path, final: str | Path, build_dir: str | Path, **info: Any) -> Path:
    """Stamp ``staging`` with the design hash of ``build_dir`` and move it to ``final`` (replacing it)."""
    stamp_dir(staging, build_dir, **info)
    _replace_entry(Path(staging), Path(final))
    return Path(final)


__all__ = ["DESIGN_ENTRIES", "HASH_KEY", "STAMP", "atomic_path", "design_hash", "dir_is_current", "foreign_entries",
           "is_current", "move_aside", "publish_build", "publish_dir", "results", "stamp_dir", "staged_build", "staging_dir",
           "write_json_atomic", "write_npz_atomic", "write_text_atomic"]
