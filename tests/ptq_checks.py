"""Checks shared by the post-training quantization tests (tests/test_ptq_*.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from brevitas.nn import QuantConv3d

from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.quant import export_model
from pleiades_fpga.quant.network import run_with_conv_hooks, value
from small_qonnx import qonnx_outputs


def conv_inputs(model, frames) -> dict[str, torch.Tensor]:
    """The input of every QuantConv3d of ``model`` (as it receives it: temporal layers unpadded) over ``frames``,
    one clip per pass: {name: (N, C, T, H, W)}."""
    inputs: dict[str, list[torch.Tensor]] = {}

    def hook(name):
        return lambda _m, args, _kw: inputs.setdefault(name, []).append(value(args[0]).detach())

    convs = {n: m for n, m in model.named_modules() if isinstance(m, QuantConv3d)}
    run_with_conv_hooks(model, convs, hook, frames, "inputs")
    return {n: torch.cat(v) for n, v in inputs.items()}


def assert_golden_equals_qonnx(model, path: Path) -> None:
    """Export ``model`` (BatchNorm-folded, 8x8 input) to ``path``: the golden model's logits equal qonnx's and the
    torch model's on two random clips, and are not trivially constant."""
    export_model(model, path, frames=12)
    golden = GoldenModel.from_qonnx(path)
    clips = torch.poisson(torch.full((2, 2, 12, 8, 8), 0.4), generator=torch.Generator().manual_seed(9))
    logits = golden.forward(clips.numpy())
    assert int((logits != qonnx_outputs(path, clips.numpy())).sum()) == 0
    with torch.no_grad():
        torch_logits = model(clips, pad="causal").double().numpy()
    assert int((logits != torch_logits).sum()) == 0
    assert len(np.unique(logits)) > 10
