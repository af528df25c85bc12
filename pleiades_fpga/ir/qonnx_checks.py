"""Checks of a QONNX file's PLEIADES metadata against its graph, run before the graph is read into the IR.

A file written by ``pleiades-fpga export`` carries JSON ``metadata_props`` (see ``pleiades_fpga.quant.export``):
the format, the padding, the NetConfig, one entry per temporal layer and the Conv-node names. Every error
names the key, layer or node, what is wrong, and the fix (re-export with ``pleiades-fpga export``).
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from pleiades_fpga.errors import UnsupportedModelError

QONNX_FORMAT = "pleiades-qonnx/1"
REQUIRED_KEYS = ("pleiades.format", "pleiades.pad", "pleiades.net_config", "pleiades.temporal_layers")
JSON_KEYS = ("pleiades.net_config", "pleiades.quant_config", "pleiades.temporal_layers", "pleiades.conv_names")
MIN_QUANT_BITS, MAX_QUANT_BITS = 1, 32
FIX = "re-export the model with `pleiades-fpga export CHECKPOINT --out model.onnx`"


class _Checker:
    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.model, self.source = model, source
        self.init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def fail(self, where: str, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.source}: {where}: {msg}; {FIX}")

    def integer(self, value: Any, where: str, lo: int, hi: int | None = None) -> int:
        ok = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)) or \
            (isinstance(value, float) and math.isfinite(value) and value == int(value))
        if not ok or value < lo or (hi is not None and value > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise self.fail(where, f"must be an integer {rng}, got {value!r}")
        return int(value)

    def real(self, value: Any, where: str, above: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                (above is not None and not value > above):
            raise self.fail(where, f"must be a finite number{f' > {above:g}' if above is not None else ''}, "
                                   f"got {value!r}")
        return float(value)

    def metadata(self) -> dict[str, Any]:
        props = {p.key: p.value for p in self.model.metadata_props}
        missing = [k for k in REQUIRED_KEYS if k not in props]
        if missing:
            raise self.fail("metadata", f"missing PLEIADES metadata {missing} (not written by pleiades-fpga export?)")
        meta: dict[str, Any] = dict(props)
        for key in JSON_KEYS:
            if key in props:
                try:
                    meta[key] = json.loads(props[key])
                except ValueError as exc:
                    raise self.fail(f"metadata {key}", f"is not valid JSON ({exc})") from exc
        if meta["pleiades.format"] != QONNX_FORMAT:
            raise self.fail("metadata pleiades.format", f"is {meta['pleiades.format']!r}, expected {QONNX_FORMAT!r}")
        if meta["pleiades.pad"] != "causal":
            raise self.fail("metadata pleiades.pad", f"is {meta['pleiades.pad']!r}; hardware streams need 'causal'")
        if "pleiades.conv_names" in meta and not (isinstance(meta["pleiades.conv_names"], dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in meta["pleiades.conv_names"].items())):
            raise self.fail("metadata pleiades.conv_names", "must map Conv node names to module names (strings)")
        return meta

    def net_config(self, cfg: Any) -> dict[str, Any]:
        where = "metadata pleiades.net_config"
        if not isinstance(cfg, dict):
            raise self.fail(where, f"must be a JSON object, got {type(cfg).__name__}")
        for key in ("bin_us", "kernel_size", "degree", "alpha", "beta", "in_channels", "input_size"):
            if key not in cfg:
                raise self.fail(where, f"has no {key!r}")
        self.integer(cfg["bin_us"], f"{where} bin_us", 1)
        self.integer(cfg["kernel_size"], f"{where} kernel_size", 1)
        self.integer(cfg["degree"], f"{where} degree", 0)
        for key in ("alpha", "beta"):
            self.real(cfg[key], f"{where} {key}", above=-1.0)
        self.integer(cfg["in_channels"], f"{where} in_channels", 1)
        size = cfg["input_size"]
        if not isinstance(size, list) or len(size) != 2:
            raise self.fail(f"{where} input_size", f"must be [height, width], got {size!r}")
        for v in size:
            self.integer(v, f"{where} input_size", 1)
        return cfg

    def temporal_layers(self, layers: Any) -> list[dict[str, Any]]:
        if not isinstance(layers, list) or not all(isinstance(e, dict) for e in layers):
            raise self.fail("metadata pleiades.temporal_layers", "must be a JSON list of objects (one per layer)")
        for i, e in enumerate(layers):
            where = f"metadata pleiades.temporal_layers[{i}] ({e.get('name', '?')})"
            if not isinstance(e.get("name"), str):
                raise self.fail(where, "has no 'name'")
            self.integer(e.get("kernel_size"), f"{where} kernel_size", 1)
            self.integer(e.get("bin_us"), f"{where} bin_us", 1)
            if e.get("implementation") == "recurrent" or e.get("kind") != "pleiades":
                continue
            for key in ("alpha", "beta"):
                self.real(e.get(key), f"{where} {key}", above=-1.0)
            n = self.integer(e.get("degree"), f"{where} degree", 0)
            try:
                coeffs = np.asarray(e.get("coefficients"), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise self.fail(f"{where} coefficients", f"must be a nested list of numbers ({exc})") from exc
            if coeffs.ndim != 3 or coeffs.shape[2] != n + 1 or not np.isfinite(coeffs).all():
                raise self.fail(f"{where} coefficients", f"must be finite numbers of shape (out, in/groups, "
                                                         f"degree+1 = {n + 1}), got shape {coeffs.shape}")
        return layers

    def input_shape(self, cfg: dict[str, Any]) -> None:
        inp = self.model.graph.input[0]
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
        want = [cfg["in_channels"], *cfg["input_size"]]
        if len(dims) != 5 or any(d is None or d < 1 for d in dims) or [dims[1], dims[3], dims[4]] != want:
            raise self.fail(f"graph input {inp.name!r}", f"declared shape {dims} is not (batch, {want[0]}, frames, "
                                                          f"{want[1]}, {want[2]}) as the metadata's net_config says")

    def quant_bits(self) -> None:
        for node in self.model.graph.node:
            if node.op_type != "Quant" or len(node.input) < 4:
                continue
            bits = self.init.get(node.input[3])
            if bits is None:
                raise self.fail(f"node {node.name!r} (Quant)", "bit width must be a constant")
            b = np.ravel(bits)
            if b.size != 1:
                raise self.fail(f"node {node.name!r} (Quant)", f"bit width must be one number, got shape {bits.shape}")
            width = self.integer(b[0].item(), f"node {node.name!r} (Quant) bit width", MIN_QUANT_BITS, MAX_QUANT_BITS)
            signed = next((a.i for a in node.attribute if a.name == "signed"), 1)
            if signed and width < 2:
                raise self.fail(f"node {node.name!r} (Quant)", "a signed quantizer needs a bit width of at least 2 "
                                "(signed 1-bit values {-1, 0} have no hardware form: the requantizer's signed "
                                "range starts at 2 bits); quantize to 2 bits or unsigned")

    def kernel_taps(self, meta: dict[str, Any], layers: list[dict[str, Any]]) -> None:
        """Every temporal Conv (weight (out, in/groups, K, 1, 1) with K > 1) has the metadata's K and coefficient
        shape; with ``pleiades.conv_names`` matched by layer name, else against net_config.kernel_size."""
        by_name = {e["name"]: e for e in layers}
        names = meta.get("pleiades.conv_names") or {}
        quant_src = {n.output[0]: n.input[0] for n in self.model.graph.node if n.op_type == "Quant"}
        for node in self.model.graph.node:
            if node.op_type != "Conv" or len(node.input) < 2:
                continue
            w = self.init.get(quant_src.get(node.input[1], node.input[1]))
            if w is None or w.ndim != 5:
                continue
            kt = w.shape[2]
            entry = by_name.get(names.get(node.name, ""))
            if entry is None:
                if kt > 1 and kt != meta["pleiades.net_config"]["kernel_size"]:
                    raise self.fail(f"node {node.name!r} (Conv)", f"has {kt} temporal taps, the metadata's "
                                    f"net_config.kernel_size is {meta['pleiades.net_config']['kernel_size']}")
                continue
            if kt != entry["kernel_size"]:
                raise self.fail(f"node {node.name!r} (Conv, {entry['name']})",
                                f"has {kt} temporal taps, its metadata says kernel_size {entry['kernel_size']}")
            if "coefficients" in entry:
                shape = np.shape(entry["coefficients"])
                if tuple(shape[:2]) != tuple(w.shape[:2]):
                    raise self.fail(f"node {node.name!r} (Conv, {entry['name']})",
                                    f"weight is {tuple(w.shape[:2])} (out, in/groups), its metadata coefficients "
                                    f"are {tuple(shape[:2])}")


def check_qonnx(model: onnx.ModelProto, source: str) -> dict[str, Any]:
    """Validate the PLEIADES metadata of ``model`` and its consistency with the graph (input shape, Quant bit
    widths 1..32, temporal kernel taps); return the parsed metadata. Raises `UnsupportedModelError`."""
    c = _Checker(model, source)
    meta = c.metadata()
    cfg = c.net_config(meta["pleiades.net_config"])
    layers = c.temporal_layers(meta["pleiades.temporal_layers"])
    c.input_shape(cfg)
    c.quant_bits()
    c.kernel_taps(meta, layers)
    return meta
