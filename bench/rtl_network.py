"""Whole-network RTL figures on the default 32x32 net (issue: streaming RTL backend).

Cycles per frame measured in simulation vs the analytic count of the manifest, efficiency (ideal =
MACs / multipliers over measured cycles), latency from the first input pixel of a frame to its
logits, and simulation speed, on Verilator and (when installed) Icarus, over 30 frames with and
without random back-pressure. Uses the trained demo model (build/demo/model.onnx) when present,
else a default-preset network with calibrated random weights (the figures do not depend on training).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]


def _model(tmp: Path) -> tuple[Path, str]:
    demo = ROOT / "build" / "demo" / "model.onnx"
    if demo.is_file():
        return demo, "trained demo model (build/demo/model.onnx)"
    import torch

    from pleiades_fpga.data import load_clips
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant import build_quant_model, calibrate, export_model

    torch.manual_seed(0)
    cfg = get_preset("default")
    model = build_quant_model(cfg, "w8a8")
    clips = load_clips("synthetic", "train", 32, 8, 0, None, progress=False).frames(cfg.bin_us).float()[:, :, :60]
    calibrate(model, clips)
    return export_model(model.eval(), tmp / "model.onnx", frames=16), "default preset, calibrated random weights (w8a8)"


def main() -> dict:
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.toolflow.locate import have_simulator
    from pleiades_fpga.sim.verify import verify_build

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx_path, source = _model(tmp)
        manifest = build_rtl(onnx_path, tmp / "build")
        result = {"model": source, "multipliers": manifest["multipliers"], "macs_per_frame": manifest["macs_per_frame"],
                  "cycles_per_frame_analytic": manifest["cycles_per_frame"],
                  "ideal_cycles_per_frame": manifest["ideal_cycles_per_frame"], "simulators": {}}
        for sim in ("verilator", "icarus"):
            if not have_simulator(sim):
                result["simulators"][sim] = "not installed"
                continue
            s = verify_build(tmp / "build", frames=30, sim=sim)
            result["simulators"][sim] = {k: s[k] for k in (
                "frames", "values_compared", "mismatches", "bit_exact", "cycles_per_frame_measured",
                "cycles_per_frame_ratio", "efficiency", "latency_cycles", "latency_cycles_max", "temporal_wraps",
                "sim_cycles", "sim_seconds", "build_seconds", "sim_cycles_per_second")}
            print(sim, result["simulators"][sim], flush=True)
    write_result("rtl_network", result)
    return result


if __name__ == "__main__":
    main()
