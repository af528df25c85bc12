"""Backend dispatch: QONNX file -> build directory with the chosen backend (``pleiades-fpga build``).

Each backend module imports the shared pieces it needs from :mod:`pleiades_fpga.hw.build` (input checks, the
RTL build); this module alone knows every backend, and nothing imports it but the command and tests.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl

BACKENDS = ("rtl", "hls4ml", "finn")


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
