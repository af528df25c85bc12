"""Yosys synth_ecp5 resources of groupnorm_stream instances (causal GroupNorm, issue #14) next to the estimate of
``hw.rtl.kinds.groupnorm.estimate_terms``: the published model's block-0 size (C=8, G=4, 128x128, 8-bit input and
output, P=16) at PE 1 and 8 and both statistics variants, and small instances (4x4, C=4, G=2) at PE 1, 2, 4.
Figures: synthesized (Yosys, no place and route; the frame buffer is block RAM / LUT RAM, listed apart) and
estimated. ``python -m bench.run_all groupnorm_synth`` writes bench/results/groupnorm_synth.json (about 10 min)."""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from bench.common import write_result
from pleiades_fpga.hw.rtl.kinds import groupnorm as gn
from pleiades_fpga.hw.rtl.lint import template_sources, yosys_synth
from pleiades_fpga.ir.integers import groupnorm_params
from pleiades_fpga.toolflow.parts import get_part

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


def instance_params(c: int, g: int, h: int, w: int, pe: int, stats: str) -> dict:
    """Template parameters of an 8-bit GroupNorm with random affine (seeded), s_x = s_y = 1/16, eps = 1e-5."""
    rng = np.random.default_rng(0)
    n = c // g * h * w
    E, M, S, B = groupnorm_params(rng.uniform(0.5, 1.5, c), rng.uniform(-1, 1, c), 1e-5, 1 / 16, 1 / 16, n, 8, False,
                                  P=16)
    p = gn.stream_params(name="gn", channels=c, groups=g, height=h, width=w, in_bits=8, in_signed=False, out_bits=8,
                         out_signed=False, relu=True, E=E, M=M, S=S, B=B, P=16, pe=pe, stats=stats)
    return {**p, "E": E}        # Yosys chparam takes the plain integer


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
    write_result("groupnorm_synth", {
        "what": "groupnorm_stream alone (no ROM), Yosys synth_ecp5 (synthesized, not placed and routed) vs "
                "kinds.groupnorm.estimate_terms (estimated; LUT constants fitted on small-pe2/pe4-frame and "
                "block0-pe1-frame); cycles and latency from the cycle model (exact in tests/test_rtl_groupnorm.py)",
        "part": part.name, "instances": rows})


if __name__ == "__main__":
    main()
