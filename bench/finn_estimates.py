"""FINN+ estimates of the default net's per-frame segments vs our estimator (``build --backend finn``).

Model: build/demo/model.onnx if it exists, else a w8a8 QAT fine-tune (1 epoch) of
build/bench/train_default/checkpoint.pt exported to build/bench/finn_estimates/model.onnx. The FINN build
(folding target = our design's cycles per frame, xc7z020, 100 MHz) writes build/bench/finn_estimates/build/;
the comparison (per segment: LUT, DSP, BRAM18, cycles/frame of FINN and ours; FINN's Python execution vs the
golden model), and the whole network as one FINN graph (temporal layers as our FINN custom op: FINN's estimates,
its Python run from reset vs the golden logits, lint of the generated HDL) go to bench/results/finn_estimates.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench" / "finn_estimates"


def _model() -> tuple[Path, str]:
    demo = ROOT / "build" / "demo" / "model.onnx"
    if demo.is_file():
        return demo, "build/demo/model.onnx"
    onnx = WORK / "model.onnx"
    if onnx.is_file():
        return onnx, "w8a8 fine-tune of build/bench/train_default (cached)"
    ckpt = ROOT / "build" / "bench" / "train_default" / "checkpoint.pt"
    if not ckpt.is_file():
        raise RuntimeError(f"neither build/demo/model.onnx nor {ckpt} exists: run `make demo` or "
                           "`python -m bench.run_all train_default` first")
    cli = [sys.executable, "-m", "pleiades_fpga.cli"]
    subprocess.run([*cli, "train", "--quant", "w8a8", "--init", str(ckpt), "--epochs", "1", "--out",
                    str(WORK / "quant")], check=True)
    subprocess.run([*cli, "export", str(WORK / "quant" / "checkpoint.pt"), "--out", str(onnx), "--quiet"], check=True)
    return onnx, "w8a8 fine-tune (1 epoch) of build/bench/train_default"


def main() -> dict:
    from pleiades_fpga.hw.finn_backend.project import build_finn, comparison_table

    model, source = _model()
    start = time.time()
    build_finn(model, WORK / "build", clock_mhz=100.0, part="xc7z020")
    seconds = time.time() - start
    comparison = json.loads((WORK / "build" / "finn" / "comparison.json").read_text())
    print(comparison_table(comparison))
    perf = json.loads((WORK / "build" / "finn" / "estimate_network_performance.json").read_text())
    data = {"model": source, "build_seconds": round(seconds, 1), "finn_network_performance": perf,
            **{k: comparison[k] for k in ("finn_version", "fpga_part", "clock_mhz", "target_cycles_per_frame",
                                          "totals", "all_segments_ok", "all_exact")},
            "segments": [{"segment": r["segment"], "layers": r["layers"], "finn": r.get("finn"), "ours": r["ours"],
                          "finn_nodes": r["finn_nodes"], "functional": r["functional"]} for r in comparison["segments"]],
            "temporal_layers": comparison["temporal_layers"], "glue_layers": comparison.get("glue_layers", []),
            "network": comparison.get("network")}
    write_result("finn_estimates", data)
    return data


if __name__ == "__main__":
    main()
