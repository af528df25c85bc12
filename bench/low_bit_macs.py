"""More than one MAC per multiplier at low bits (issue #16): the default 32x32 net quantized w4a4 vs w8a8.

Both come from one float model by post-training quantization (``pleiades-fpga export --quant``; the trained demo
checkpoint build/demo/float.pt when present, else the default preset with random weights: the throughput and
resource figures do not depend on training) and are built with the same multiplier budget (``build
--max-multipliers BUDGET``; the default folding packs two products per multiplier where the widths allow and puts
LUT multipliers where packing cannot pair or fit, ``hw.rtl.lowering.default_mac``). Per design: MAC modes per
layer, multipliers, MACs per cycle per multiplier (peak: products the lanes compute per cycle; effective: MACs per
frame / cycles per frame), cycles per frame (analytic and measured in Verilator), frames/s at CLOCK_MHZ (stated,
the same for both: not a placed-and-routed fmax), resources (estimated: ``report.estimate``; synthesized: Yosys
synth_ecp5 for LFE5U-85F), verification (frames, values, mismatches, under random back-pressure).
``python -m bench.run_all low_bit_macs`` writes bench/results/low_bit_macs.json (builds in build/bench_low_bit_macs).
"""
from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench_low_bit_macs"
BUDGET = 96          # --max-multipliers of both builds
CLOCK_MHZ = 100.0    # the clock both frame rates are stated at
PART = "LFE5U-85F"
FRAMES = 40          # verified frames per design (Verilator; two clips' worth of runs with and without pauses)
QUANTS = ("w8a8", "w4a4")
MAC_KINDS = ("temporal_conv", "pointwise", "conv3x3")


def float_checkpoint(tmp: Path) -> tuple[Path, str]:
    demo = ROOT / "build" / "demo" / "float.pt"
    if demo.is_file():
        return demo, "trained demo float checkpoint (build/demo/float.pt), post-training quantized"
    import torch

    from pleiades_fpga.model import build_model, get_preset, save_checkpoint

    torch.manual_seed(0)
    cfg = get_preset("default")
    path = tmp / "float.pt"
    save_checkpoint(build_model(cfg), path)
    return path, "default preset with random weights (no trained checkpoint), post-training quantized"


def lane_products(layer: dict) -> int:
    """Products a MAC layer's lanes compute per cycle (PE x SIMD; depthwise: PE)."""
    return int(layer["pe"]) * (1 if layer.get("depthwise") else int(layer["simd"]))


def design_figures(manifest: dict) -> dict:
    layers = [l for l in manifest["layers"] if l["kind"] in MAC_KINDS]
    mults = int(manifest["multipliers"])
    products = sum(lane_products(l) for l in layers)
    cycles = int(manifest["cycles_per_frame"])
    return {
        "multipliers": mults,
        "mac_modes": {l["name"]: {"mac": l.get("mac", "dsp"), "pe": l["pe"], "simd": l["simd"],
                                  "multipliers": l["multipliers"], "products_per_cycle": lane_products(l),
                                  "in_bits": l["in_bits"], "weight_bits": l["weight_bits"],
                                  "cycles_per_frame": l["cycles_per_frame"]} for l in layers},
        "products_per_cycle": products,
        "macs_per_frame": int(manifest["macs_per_frame"]),
        "cycles_per_frame_analytic": cycles,
        "peak_macs_per_cycle_per_multiplier": round(products / max(1, mults), 3),
        "effective_macs_per_cycle_per_multiplier": round(manifest["macs_per_frame"] / cycles / max(1, mults), 3),
        "frames_per_s_analytic": round(CLOCK_MHZ * 1e6 / cycles, 1),
    }


def run_design(q: str, ckpt: Path, steps: tqdm | None = None) -> dict:
    """Export, build, synthesize and verify one design in OUT/q; what is on disk is reused (the export, the build,
    and the synthesis and verification of that design: design hash), so an interrupted run resumes; delete OUT
    to start over."""
    import json

    from pleiades_fpga.artifacts import design_hash, write_json_atomic
    from pleiades_fpga.cli import main as cli
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.hw.rtl.generate import rtl_sources
    from pleiades_fpga.report.estimate import estimate_manifest
    from pleiades_fpga.sim.verify import verify_build
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.toolflow.synth import load_synth, run_synth

    def step(what: str) -> None:
        if steps is not None:
            steps.set_postfix_str(f"{q}: {what}")

    part = get_part(PART)
    d = OUT / q
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    step("export")
    if not (d / "model.onnx").is_file():
        if cli(["export", str(ckpt), "--quant", q, "--out", str(d / "model.onnx"), "--quiet"]) != 0:
            raise RuntimeError(f"export {q} failed")
    step("build")
    if (d / "build" / "manifest.json").is_file():      # resume: delete OUT to rebuild from the current code
        manifest = json.loads((d / "build" / "manifest.json").read_text())
    else:
        manifest = build_rtl(d / "model.onnx", d / "build", max_multipliers=BUDGET, clock_mhz=CLOCK_MHZ)
    dh = design_hash(d / "build")
    fig = design_figures(manifest)
    est = estimate_manifest(manifest, part)["total"]
    fig["estimated"] = {k: est[k] for k in ("lut", "ff", "dsp", "bram_bits")}
    step("synth_ecp5")
    stamp = d / "synth" / "bench_design_hash.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("design_hash") == dh:
        syn = load_synth(d / "synth", manifest["top"], part)
    else:
        syn = run_synth(rtl_sources(d / "build"), manifest["top"], part, d / "synth", progress=False, timeout=5400)
        write_json_atomic(stamp, {"design_hash": dh})
    fig["synthesized"] = {**syn.utilization, "MULT18X18D": int(syn.cells.get("MULT18X18D", 0))}
    fig["fits"] = {k: syn.utilization.get(k, 0) <= v for k, v in part.totals().items() if k != "uram_bits"}
    step("verify")
    vpath = d / "build" / "verification.json"
    v = json.loads(vpath.read_text()) if vpath.is_file() else {}
    if v.get("design_hash") != dh or v.get("frames") != FRAMES:
        v = verify_build(d / "build", frames=FRAMES, sim="verilator", pause=0.3, seed=1)
    fig["verification"] = {"simulator": "verilator", "frames": FRAMES, "pause": 0.3,
                           "values_compared": v["values_compared"], "mismatches": v["mismatches"],
                           "bit_exact": v["bit_exact"], "passed": v["passed"],
                           "stream_violations": v["stream_checks"]["violations"],
                           "cycles_per_frame_measured": v["cycles_per_frame_measured"]}
    meas = v["cycles_per_frame_measured"]
    fig["frames_per_s_measured_cycles"] = round(CLOCK_MHZ * 1e6 / meas, 1) if meas else None
    fig["design_hash"], fig["seconds"] = dh, round(time.time() - t0, 1)
    return fig


def main(only: str | None = None) -> dict | None:
    """Both designs (or ``only`` one, e.g. in a second process) and the comparison."""
    import tempfile

    designs = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, source = float_checkpoint(Path(tmp))
        quants = [q for q in QUANTS if only in (None, q)]
        steps = tqdm(total=len(quants), desc="low_bit_macs")
        for q in quants:
            designs[q] = run_design(q, ckpt, steps)
            steps.update()
        steps.close()
    if only is not None:
        return None
    w4, w8 = designs["w4a4"], designs["w8a8"]
    result = {
        "model": source, "budget_max_multipliers": BUDGET, "clock_mhz": CLOCK_MHZ,
        "clock_note": "stated clock, the same for both designs (frame rates = clock / cycles per frame; not an fmax)",
        "part": PART, "designs": designs,
        "w4a4_vs_w8a8": {
            "frames_per_s_ratio_analytic": round(w4["frames_per_s_analytic"] / w8["frames_per_s_analytic"], 3),
            "frames_per_s_ratio_measured": (round(w8["verification"]["cycles_per_frame_measured"]
                                                  / w4["verification"]["cycles_per_frame_measured"], 3)
                                            if w4["verification"]["cycles_per_frame_measured"] else None),
            "multipliers": [w8["multipliers"], w4["multipliers"]],
            "synth_MULT18X18D": [w8["synthesized"]["MULT18X18D"], w4["synthesized"]["MULT18X18D"]],
        },
        "sources": {"cycles_per_frame_analytic": "manifest (hw.rtl cycle models)",
                    "cycles_per_frame_measured": "Verilator, run without pauses (verify)",
                    "estimated": "report.estimate (analytic)", "synthesized": "Yosys synth_ecp5 (no place and route)"},
    }
    write_result("low_bit_macs", result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else None)
