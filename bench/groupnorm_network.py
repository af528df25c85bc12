"""A whole network with causal GroupNorm through the RTL backend: the tiny preset at 8x8 with temporal_norm = "group"
(G = 2; three GroupNorm layers), w8a8, exported to QONNX, built (``build_rtl``: hardware kind ``groupnorm``) and
verified on Verilator against the golden model under random back-pressure (pause 0.35), for both statistics
variants. Figures: mismatches and stream checks (measured in simulation), cycles per frame measured vs the analytic
model. ``python -m bench.run_all groupnorm_network`` writes bench/results/groupnorm_network.json (about 15 min)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from tqdm import tqdm

from bench.common import write_result
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, export_model
from pleiades_fpga.quant.groupnorm import QuantGroupNorm
from pleiades_fpga.sim.verify import verify_build

CFG = get_preset("tiny").replace(temporal_norm="group", norm_groups=2, input_size=(8, 8))
FRAMES = 16
OUT = Path(__file__).resolve().parent.parent / "build" / "bench_groupnorm_network"


def _model(stats: str) -> torch.nn.Module:
    """The quantized network with random affine GroupNorms (negative gammas too), calibrated on Poisson clips."""
    torch.manual_seed(3)
    model = build_quant_model(CFG, {"weight_bits": 8, "act_bits": 8, "groupnorm_stats": stats},
                              init_from=build_model(CFG))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantGroupNorm):
                m.weight.uniform_(-1.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.8, generator=g)
    clips = torch.poisson(torch.full((6, 2, FRAMES, 8, 8), 0.5), generator=torch.Generator().manual_seed(0))
    return calibrate(model, clips, batch_size=2, passes=4)


def main() -> None:
    rows = []
    for stats in tqdm(["frame", "previous"], desc="groupnorm network"):
        out = OUT / stats
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t0 = time.time()
        path = export_model(_model(stats), out / "model.onnx", frames=FRAMES)
        manifest = build_rtl(path, out / "build")
        s = verify_build(out / "build", frames=12, sim="verilator", pause=0.35, seed=3)
        rows.append({
            "stats": stats,
            "groupnorm_layers": [{k: layer[k] for k in ("name", "pe", "cycles_per_frame", "memories")}
                                 for layer in manifest["layers"] if layer["kind"] == "groupnorm"],
            "passed": s["passed"], "bit_exact": s["bit_exact"], "mismatches": s["mismatches"],
            "values_compared": s["values_compared"], "stream_violations": s["stream_checks"]["violations"],
            "cycles_per_frame_measured": s.get("cycles_per_frame_measured"),
            "cycles_per_frame_analytic": s.get("cycles_per_frame_analytic"),
            "latency_cycles_analytic": manifest["latency_cycles"], "seconds": round(time.time() - t0, 1)})
    write_result("groupnorm_network", {"what": "tiny 8x8 GroupNorm network (3 GroupNorm layers), RTL build verified "
                                               "on Verilator (12 frames, pause 0.35)", "runs": rows})


if __name__ == "__main__":
    main()
