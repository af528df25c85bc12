"""Build directory of the hls4ml backend: the HLS project, its testbench data and a synthesis script.

``build_hls4ml(model.onnx, out_dir)`` writes ``out_dir/model.onnx`` (copy), ``out_dir/hls4ml/`` (the hls4ml
Vitis project: ``firmware/``, ``build_prj.tcl``, testbench ``<project>_test.cpp``), ``tb_data/`` with frames and
the golden model's outputs (the testbench compares against them in ``csim``), ``synth_hls4ml.sh`` (runs
``vitis_hls`` / ``vitis-run`` and optionally Vivado on a machine that has them), ``manifest.json`` and ``ir.txt``.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.artifacts import staged_build, write_json_atomic, write_text_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.hls4ml_backend.converter import DEFAULT_PART, Hls4mlStream, convert
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.ir.summary import summary

PROJECT = "pleiades"
TB_FRAMES = 24

SYNTH_SCRIPT = """#!/bin/bash
# Synthesize the hls4ml project of this build directory (needs AMD Vitis HLS 2023.2+ on PATH; Vivado for --vsynth).
# Usage: ./synth_hls4ml.sh [--csim] [--cosim] [--export] [--vsynth]
#   default: C synthesis only (reports in hls4ml/{project}_prj/solution1/syn/report/)
#   --csim:   C simulation of the testbench against tb_data (golden model outputs, bit-exact)
#   --cosim:  C/RTL co-simulation;  --export: IP catalog export;  --vsynth: Vivado out-of-context synthesis
set -euo pipefail
cd "$(dirname "$0")/hls4ml"
csim=0; cosim=0; export_ip=0; vsynth=0
for arg in "$@"; do
  case "$arg" in
    --csim) csim=1 ;; --cosim) cosim=1 ;; --export) export_ip=1 ;; --vsynth) vsynth=1; export_ip=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
cat > build_opt.tcl <<EOT
array set opt {{
    reset      1
    csim       $csim
    synth      1
    cosim      $cosim
    validation 0
    export     $export_ip
    vsynth     $vsynth
    fifo_opt   0
}}
EOT
if command -v vitis-run >/dev/null; then
  vitis-run --tcl build_prj.tcl --mode hls
elif command -v vitis_hls >/dev/null; then
  vitis_hls -f build_prj.tcl
else
  echo "neither vitis-run nor vitis_hls is on PATH: source <Vitis>/settings64.sh first" >&2; exit 1
fi
"""


def write_testbench_data(stream: Hls4mlStream, out_dir: Path, golden_outputs: np.ndarray,
                         frames: np.ndarray) -> None:
    """tb_data/tb_input_features.dat (frame values channel-last + reset flag, one frame per line) and
    tb_output_predictions.dat (the golden model's integer outputs) for the generated C++ testbench."""
    tb = out_dir / "tb_data"
    tb.mkdir(parents=True, exist_ok=True)
    x = stream.encode_inputs(frames, True)
    with open(tb / "tb_input_features.dat", "w") as fin:
        for frame, reset in zip(x[0], x[1]):
            fin.write(" ".join(f"{v:g}" for v in frame) + f" {int(reset[0])}\n")
    scaled = golden_outputs * 2.0 ** stream.design.output_exponent
    with open(tb / "tb_output_predictions.dat", "w") as fpr:
        for row in scaled:
            fpr.write(" ".join(f"{v:g}" for v in row) + "\n")


def build_hls4ml(onnx_path: str | Path, out_dir: str | Path, clock_mhz: float = 100.0, part: str = DEFAULT_PART,
                 tb_frames: int = TB_FRAMES, seed: int = 0, **ignored: Any) -> dict[str, Any]:
    """Write the hls4ml build directory of a QONNX model (see module docstring); return its manifest.

    Options of other backends (folding, target_fps, max_multipliers, float_checkpoint) are accepted and ignored.
    """
    from pleiades_fpga.hw.build import check_build_inputs

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    check_build_inputs(onnx_path, out_dir)
    ir = read_qonnx(onnx_path)          # errors name the user's file; nothing is written before this
    with staged_build(out_dir) as stage:  # a failure leaves out_dir (and a model.onnx in it) as it was
        shutil.copyfile(onnx_path, stage / "model.onnx")
        manifest = _write_project(ir, stage, out_dir.name, clock_mhz, part, tb_frames, seed)
        config = stage / "hls4ml" / "hls4ml_config.yml"    # hls4ml records its output directory: the final one
        if config.is_file():
            write_text_atomic(config, config.read_text().replace(str(stage / "hls4ml"), str(out_dir / "hls4ml")))
    return manifest


def _write_project(ir: Any, out_dir: Path, name: str, clock_mhz: float, part: str, tb_frames: int,
                   seed: int) -> dict[str, Any]:
    from pleiades_fpga.ir.golden import GoldenModel

    stream = convert(ir, out_dir / "hls4ml", project_name=PROJECT, part=part, clock_mhz=clock_mhz)
    stream.write()
    h, w, c = stream.design.input_shape
    rng = np.random.default_rng(seed)
    frames = rng.poisson(0.5, size=(tb_frames, c, h, w)).astype(np.float64)
    golden = GoldenModel(ir).stream(frames.transpose(1, 0, 2, 3)[None])[0].T  # (T, classes)
    write_testbench_data(stream, out_dir / "hls4ml", golden, frames)
    script = write_text_atomic(out_dir / "synth_hls4ml.sh", SYNTH_SCRIPT.format(project=PROJECT))
    script.chmod(0o755)
    write_text_atomic(out_dir / "ir.txt", summary(ir) + "\n")
    manifest = {
        "format": "pleiades-fpga-hls4ml/1", "backend": "hls4ml", "name": name, "top": PROJECT,
        "project_dir": "hls4ml", "synth_script": script.name, "part": part, "clock_mhz_target": clock_mhz,
        "io_type": "io_stream", "input": {"channels": c, "height": h, "width": w,
                                          "type": stream.design.precisions["frame"]["result"]},
        "reset_input": "1-bit flag per frame: zeroes the temporal buffers before the frame",
        "output": {"channels": int(golden.shape[1]), "exponent": stream.design.output_exponent,
                   "scale": np.asarray(ir.tensors[ir.output].scale).tolist()},
        "layers": [{"name": layer["name"], "class": layer["class_name"],
                    "precision": stream.design.precisions.get(layer["name"], {})} for layer in stream.design.layers],
        "tb_frames": tb_frames,
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def run_testbench(project_dir: str | Path, optimize: str = "-O1", timeout: float = 900.0) -> np.ndarray:
    """Compile the generated C++ testbench with g++ (no Vitis) and run it; return its outputs (frames, classes).

    This is the testbench ``vitis_hls`` runs in ``csim``: it reads ``tb_data/`` and writes ``csim_results.log``.
    """
    project_dir = Path(project_dir)
    weights = project_dir.resolve() / "firmware" / "weights"
    cmd = ["g++", optimize, "-std=c++14", "-Ifirmware", "-Ifirmware/ap_types", f'-DWEIGHTS_DIR="{weights}"',
           f"{PROJECT}_test.cpp", f"firmware/{PROJECT}.cpp", "-o", "tb_csim"]
    res = subprocess.run(cmd, cwd=project_dir, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise PleiadesError(f"g++ could not build the hls4ml testbench:\n{res.stderr[-3000:]}")
    res = subprocess.run(["./tb_csim"], cwd=project_dir, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise PleiadesError(f"the hls4ml testbench failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    rows = (project_dir / "tb_data" / "csim_results.log").read_text().split("\n")
    return np.array([[float(v) for v in r.split()] for r in rows if r.strip()])
