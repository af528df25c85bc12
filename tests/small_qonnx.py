"""Shared test recipe: a small quantized PLEIADES network exported to QONNX.

Tiny preset with K = 10 (as published) on 8x8 frames, w4a4, randomized BatchNorm statistics (so that
activations are neither all zero nor saturated), calibrated on Poisson event counts.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pleiades_fpga.model import get_preset
from pleiades_fpga.quant.export import export_model
from pleiades_fpga.quant.network import build_quant_model, calibrate

CFG = get_preset("tiny").replace(kernel_size=10, input_size=[8, 8])


def randomize_bn(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm3d, torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.1, 0.3, generator=g)


def small_qonnx(path: Path, seed: int = 0, spec: str | dict = "w4a4") -> Path:
    """Export the small network (default w4a4) to ``path`` (16-frame graph) and return the path."""
    torch.manual_seed(seed)
    model = build_quant_model(CFG, spec)
    randomize_bn(model, seed)
    calibrate(model, torch.poisson(torch.full((6, 2, 16, 8, 8), 0.4)))
    model.eval()
    return export_model(model, path, frames=16)


def qonnx_outputs(path_or_model, clips: np.ndarray) -> np.ndarray:
    """qonnx's own execution (``execute_onnx``) of a QONNX file or ModelWrapper-able model, one clip at a time."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    w = ModelWrapper(str(path_or_model) if isinstance(path_or_model, Path) else path_or_model)
    name_in, name_out = w.graph.input[0].name, w.graph.output[0].name
    return np.concatenate([execute_onnx(w, {name_in: c[None].astype(np.float32)})[name_out] for c in clips])
