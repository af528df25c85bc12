"""Backend dispatch: QONNX file -> build directory (``pleiades-fpga build``)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.qonnx_reader import read_qonnx

BACKENDS = ("rtl", "hls4ml", "finn")


def build_rtl(onnx_path: str | Path, out_dir: str | Path, folding: str | Path | None = None,
              target_fps: float | None = None, clock_mhz: float = 100.0, max_multipliers: int | None = None,
              float_checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Generate the streaming RTL design of a QONNX model into ``out_dir``; return the manifest.

    ``out_dir`` receives a copy of the model (``model.onnx``), ``rtl/``, ``manifest.json``,
    ``folding.json`` (the folding used; edit it and pass it back with ``folding``) and ``ir.txt``
    (one line per layer); a float checkpoint is copied to ``float.pt`` for the float-agreement
    figures of ``verify``.
    """
    from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json, load_folding
    from pleiades_fpga.hw.rtl.generate import generate

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    graph = read_qonnx(onnx_path)
    fold = load_folding(folding, graph) if folding else default_folding(graph, target_fps, clock_mhz, max_multipliers)
    out_dir.mkdir(parents=True, exist_ok=True)
    if onnx_path.resolve() != (out_dir / "model.onnx").resolve():
        shutil.copyfile(onnx_path, out_dir / "model.onnx")
    if float_checkpoint:
        src = Path(float_checkpoint)
        if not src.is_file():
            raise PleiadesError(f"float checkpoint {src} does not exist")
        shutil.copyfile(src, out_dir / "float.pt")
    manifest = generate(graph, out_dir, fold, clock_mhz_target=clock_mhz)
    (out_dir / "folding.json").write_text(json.dumps(folding_to_json(fold), indent=2) + "\n")
    (out_dir / "ir.txt").write_text(graph.summary() + "\n")
    return manifest


def build(onnx_path: str | Path, out_dir: str | Path, backend: str = "rtl", **kwargs: Any) -> dict[str, Any]:
    """Build ``onnx_path`` with ``backend`` into ``out_dir``."""
    if backend == "rtl":
        return build_rtl(onnx_path, out_dir, **kwargs)
    if backend == "hls4ml":
        from pleiades_fpga.hw.hls4ml_backend.project import build_hls4ml

        return build_hls4ml(onnx_path, out_dir, **kwargs)
    if backend == "finn":
        from pleiades_fpga.hw.finn_backend.project import build_finn

        return build_finn(onnx_path, out_dir, **kwargs)
    raise PleiadesError(f"backend {backend!r} is not available; choose one of {BACKENDS}")
