"""QONNX export of a quantized PLEIADES network: Brevitas export_qonnx (causal mode, whole clip), qonnx cleanup,
and PLEIADES metadata (metadata_props) so the temporal kernels can be re-sampled without the checkpoint.

Metadata keys (all JSON strings):
- ``pleiades.format``: "pleiades-qonnx/1";  ``pleiades.pad``: "causal";
- ``pleiades.net_config``: the NetConfig dict;  ``pleiades.quant_config``: the quant config;
- ``pleiades.temporal_layers``: one entry per temporal layer (block order) with ``name``, ``kind``
  ("pleiades"/"free"), ``kernel_size``, ``bin_us`` (step size), ``alpha``, ``beta``, ``degree``,
  ``domain``, ``scale_kernel_size``, ``groups``, ``coefficients`` (BN-folded coeffs, nested lists
  (out, in/groups, degree+1)), ``tap_offset`` when GPTQ rounding moved taps (out, in/groups, K; added to the
  kernel of the coefficients; a re-sampled kernel does without it) and ``bias`` (folded float bias);
  Recurrent temporal layers (issue #6) have ``implementation`` "recurrent", the real ``A``/``B``, the
  integer format and the float ``readout`` instead (see ``pleiades_fpga.quant.recurrent.recurrent_metadata``);
- ``pleiades.conv_names``: Conv node name -> PyTorch module name (``blocks.1.skip``, ``head.fc2`` ...).
"""
from __future__ import annotations

import importlib
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.qonnx_checks import QONNX_FORMAT
from pleiades_fpga.quant.fold import check_exportable, fold_batchnorm
from pleiades_fpga.quant.network import QuantPleiadesNet
from pleiades_fpga.quant.temporal import QuantPleiadesConv

FORMAT = QONNX_FORMAT


def _allow_export_without_onnxoptimizer() -> None:
    """Brevitas refuses to export without the optional ``onnxoptimizer`` package, which it only uses for two
    graph passes (constants to initializers, drop unused initializers) that qonnx cleanup does anyway."""
    importlib.import_module("brevitas.export.onnx.manager")
    manager = sys.modules["brevitas.export.onnx.manager"]
    if getattr(manager, "onnx", None) is None:
        manager.onnx = onnx
    if getattr(manager, "opt", None) is None:
        class _NoOptimizer:
            @staticmethod
            def optimize(model, passes):
                return model

        manager.opt = _NoOptimizer()


class _Causal(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x, pad="causal")


def temporal_metadata(model: QuantPleiadesNet) -> list[dict]:
    """Metadata of every temporal layer (see module docstring)."""
    out = []
    cfg = model.config
    for i, layer in enumerate(model.temporal_layers()):
        if hasattr(layer, "readout"):  # recurrent (issue #6): the projection and its float readout
            from pleiades_fpga.quant.recurrent import recurrent_metadata

            out.append({"name": f"blocks.{i}.temporal", "kind": cfg.temporal_kind, "kernel_size": cfg.kernel_size,
                        "bin_us": cfg.bin_us, **recurrent_metadata(layer)})
            continue
        entry = {"name": f"blocks.{i}.temporal", "kind": cfg.temporal_kind, "kernel_size": cfg.kernel_size,
                 "bin_us": cfg.bin_us, "groups": layer.groups, "in_channels": layer.in_channels,
                 "out_channels": layer.out_channels,
                 "bias": layer.bias.detach().double().tolist()}
        if isinstance(layer, QuantPleiadesConv):
            entry.update({k: layer.meta[k] for k in ("degree", "alpha", "beta", "domain", "scale_kernel_size")})
            entry["coefficients"] = layer.coeffs.detach().double().tolist()
            if bool(layer.tap_offset.any()):
                entry["tap_offset"] = layer.tap_offset.detach().double().tolist()
        else:
            entry["taps"] = layer.kernel().detach().double().tolist()
        out.append(entry)
    return out


def conv_names(model: QuantPleiadesNet, onnx_model: onnx.ModelProto) -> dict[str, str]:
    """Map each Conv node of the exported graph to the module it came from (matched by its float weight)."""
    from brevitas.nn import QuantConv3d
    from onnx import numpy_helper

    init = {i.name: numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    quant_in = {n.output[0]: n.input[0] for n in onnx_model.graph.node if n.op_type == "Quant"}
    modules = [(name, m.weight.detach().numpy()) for name, m in model.named_modules() if isinstance(m, QuantConv3d)]
    names = {}
    for node in onnx_model.graph.node:
        if node.op_type != "Conv":
            continue
        w = init.get(quant_in.get(node.input[1], ""))
        for name, weight in modules:
            if w is not None and w.shape == weight.shape and np.allclose(w, weight, rtol=1e-6, atol=1e-7) \
                    and name not in names.values():
                names[node.name] = name
                break
    return names


def export_model(model: nn.Module, path: str | Path, frames: int = 16, batch: int = 1,
                 height: int | None = None, width: int | None = None) -> Path:
    """Write the QONNX file of ``model`` (BatchNorm folded first) for clips (batch, C, frames, H, W); return the path.

    The graph is the causal network: T frames in, T logit steps out, temporal convs left-padded with K-1 zeros.
    """
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup_model
    from qonnx.core.modelwrapper import ModelWrapper

    if not isinstance(model, QuantPleiadesNet):
        raise UnsupportedModelError(
            f"export needs a quantized network (from `pleiades-fpga train --quant ...`), got {type(model).__name__}"
        )
    h, w = (height, width) if height is not None else model.config.input_size
    check_exportable(model.config, model.quant_config, h, w)
    folded = fold_batchnorm(model)
    cfg = folded.config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _allow_export_without_onnxoptimizer()
    x = torch.zeros(batch, cfg.in_channels, frames, h, w)
    with torch.no_grad():  # one eval pass: layers with integer constants (QuantGroupNorm) record them for export
        _Causal(folded).eval()(x)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "raw.onnx"
        export_qonnx(_Causal(folded).eval(), x, export_path=str(raw), verbose=False)
        wrapper = ModelWrapper(str(raw))
        # qonnx's constant folding runs nodes at the version of the FIRST opset import: the default domain first
        imports = sorted(wrapper.model.opset_import, key=lambda o: o.domain != "")
        del wrapper.model.opset_import[:]
        wrapper.model.opset_import.extend(imports)
        wrapper = cleanup_model(wrapper)
    m = wrapper.model
    del m.metadata_props[:]
    props = {
        "pleiades.format": FORMAT,
        "pleiades.pad": "causal",
        "pleiades.net_config": json.dumps(cfg.to_dict()),
        "pleiades.quant_config": json.dumps(folded.quant_config),
        "pleiades.temporal_layers": json.dumps(temporal_metadata(folded)),
        "pleiades.conv_names": json.dumps(conv_names(folded, m)),
    }
    onnx.helper.set_model_props(m, props)
    onnx.save(m, str(path))
    return path
