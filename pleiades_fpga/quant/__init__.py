"""Brevitas quantization-aware PLEIADES networks, quant configs, BatchNorm folding and QONNX export.

Public API (imported lazily: Brevitas is slow to import):
- ``build_quant_model(config, quant_spec, init_from=None)``: QAT network (``pleiades_fpga.quant.network``);
- ``resolve_spec(spec, weight_bits=None, act_bits=None)``: quant config from "w4a4", a TOML/YAML file or a dict;
- ``fold_batchnorm(model)``: BatchNorm merged into the convs (what is exported);
- ``calibrate(model, clips)``: collect activation statistics (sets the activation scales);
- ``export_model(model, path, frames=16)``: QONNX file with PLEIADES metadata.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_quant_model": "pleiades_fpga.quant.network",
    "QuantPleiadesNet": "pleiades_fpga.quant.network",
    "calibrate": "pleiades_fpga.quant.network",
    "resolve_spec": "pleiades_fpga.quant.config",
    "fold_batchnorm": "pleiades_fpga.quant.fold",
    "check_exportable": "pleiades_fpga.quant.fold",
    "export_model": "pleiades_fpga.quant.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pleiades_fpga.quant' has no attribute {name!r}")
