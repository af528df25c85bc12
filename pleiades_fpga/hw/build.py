"""The RTL build (QONNX file -> build directory) and the input checks every backend shares.

Backend dispatch is :mod:`pleiades_fpga.hw.backends`.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pleiades_fpga.artifacts import staged_build, write_json_atomic, write_text_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.ir.summary import summary
from pleiades_fpga.paths import check_input_file


def check_build_inputs(onnx_path: str | Path, out_dir: str | Path,
                       float_checkpoint: str | Path | None = None) -> None:
    """Refuse a missing model or checkpoint and an output path that is a file, before any work."""
    check_input_file(onnx_path, "model")
    if float_checkpoint is not None:
        check_input_file(float_checkpoint, "float checkpoint")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PleiadesError(f"output directory {out_dir} is a file; pass a directory with --out")


def _network_shape(cfg: dict[str, Any]) -> dict[str, Any]:
    """The parts of a network config a float checkpoint must share with a design for the agreement to mean anything."""
    def block(b: Any) -> Any:
        parts = ([b.get(k) for k in ("kind", "in_channels", "med_channels", "out_channels")] if isinstance(b, dict)
                 else list(b) if isinstance(b, (list, tuple)) else [b])
        return "-".join(map(str, parts))  # e.g. full-2-4-8

    shape = {"input_size": list(cfg.get("input_size") or []), "in_channels": cfg.get("in_channels"),
             "num_classes": cfg.get("num_classes"), "bin_us": cfg.get("bin_us")}
    if cfg.get("blocks") is not None:
        shape["blocks"] = [block(b) for b in cfg["blocks"]]
    return shape


def check_float_checkpoint(path: str | Path, graph: Any) -> None:
    """Refuse a float checkpoint that is not a pleiades-fpga checkpoint, or whose network (input size, channels,
    classes, bin size, blocks) differs from the design's QONNX graph ``graph`` (its pleiades.net_config and
    output tensor): its argmax agreement with the design would be meaningless."""
    from pleiades_fpga.model.checkpoint import read_checkpoint

    payload = read_checkpoint(path)  # refuses missing, unreadable and foreign files
    cfg = payload.get("config")
    if not isinstance(cfg, dict):
        raise PleiadesError(f"float checkpoint {path} has no network config; re-create it with `pleiades-fpga train`")
    net = graph.metadata.get("pleiades.net_config")  # checked against the graph by the QONNX reader
    want = _network_shape(net if isinstance(net, dict) else {})
    want["num_classes"] = graph.tensors[graph.output].channels
    got = _network_shape(cfg)
    diff = [f"{k} {got.get(k)} vs {v}" for k, v in want.items() if v is not None and got.get(k) != v]
    if diff:
        raise PleiadesError(f"float checkpoint {path} is of another network than the design ({'; '.join(diff)}: "
                            "checkpoint vs design); give the float checkpoint of the network this design was "
                            "exported from, or leave --float-ckpt out")


def build_rtl(onnx_path: str | Path, out_dir: str | Path, folding: str | Path | None = None,
              target_fps: float | None = None, clock_mhz: float = 100.0, max_multipliers: int | None = None,
              float_checkpoint: str | Path | None = None, part: str | None = None,
              axi_data_bits: int | None = None, memory_latency: int | None = None) -> dict[str, Any]:
    """Generate the streaming RTL design of a QONNX model into ``out_dir``; return the manifest.

    Temporal buffers (``hw.rtl.memory_plan``): with ``part``, the ones that do not fit its block RAM go to the
    board's external memory; without, all stay on chip; the folding config's per-layer ``"memory"`` wins.
    ``axi_data_bits``: the external layers' shared AXI data width, ``memory_latency``: the nominal latency
    (cycles) their prefetch hides.

    ``out_dir`` receives a copy of the model (``model.onnx``), ``rtl/``, ``manifest.json``,
    ``folding.json`` (the folding used; edit it and pass it back with ``folding``) and ``ir.txt``
    (one line per layer); a float checkpoint is copied to ``float.pt`` for the float-agreement
    figures of ``verify``. Inputs are checked and the design is generated in a staging directory
    first, so a failing build leaves ``out_dir`` as it was; results of another design in ``out_dir``
    are moved to ``out_dir/stale/`` (:func:`pleiades_fpga.artifacts.publish_build`).
    """
    from pleiades_fpga.hw.rtl.folding import default_folding, load_folding, memory_overrides
    from pleiades_fpga.hw.rtl.generate import MemoryOptions, generate
    from pleiades_fpga.toolflow.parts import BOARD_MEMORIES, get_part

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    check_build_inputs(onnx_path, out_dir, float_checkpoint)
    graph = read_qonnx(onnx_path)
    if float_checkpoint:
        check_float_checkpoint(float_checkpoint, graph)
    fold = load_folding(folding, graph) if folding else default_folding(graph, target_fps, clock_mhz, max_multipliers)
    the_part = get_part(part) if part else None
    board = next((m for m in BOARD_MEMORIES.values() if the_part and m.part == the_part.name.lower()), None)
    mem_opts = MemoryOptions(part=the_part, memory=board,
                             overrides=memory_overrides(folding, graph) if folding else {},
                             data_bits=axi_data_bits, latency=memory_latency)
    with staged_build(out_dir) as stage:
        shutil.copyfile(onnx_path, stage / "model.onnx")
        if float_checkpoint:
            shutil.copyfile(float_checkpoint, stage / "float.pt")
        manifest = generate(graph, stage, fold, clock_mhz_target=clock_mhz, memory=mem_opts)
        write_json_atomic(stage / "folding.json", manifest["folding"])
        write_text_atomic(stage / "ir.txt", summary(graph) + "\n")
    return manifest

