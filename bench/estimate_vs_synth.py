"""Analytic estimator vs Yosys, per resource, on the layer templates, the test design and any build/*/.

Writes bench/results/estimate_vs_synth.json: for every case and family (ECP5 LFE5U-85F, 7-series xc7z020)
the estimate, the synthesized numbers and estimate / synthesis per resource, plus the worst relative error
per resource against the bars (LUT within 25 %, DSP and block-RAM bits within 10 %).
Run: .venv/bin/python -m bench.run_all estimate_vs_synth   (about 10 minutes on 2 cores, plus 5-8 minutes per
build and family). PLEIADES_BENCH_BUILDS=name,name limits the generated builds to those build/NAME directories.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from bench.common import write_result
from pleiades_fpga.report.estimate import estimate_layer, estimate_manifest
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.toolflow.synth import run_synth

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "pleiades_fpga" / "hw" / "rtl" / "templates"
BARS = {"lut": 0.25, "dsp": 0.10, "bram_bits": 0.10}


def _tcb(name, c_in, c_out, k, pixels, dw, pe, simd, in_w, acc, m=16, s=6):
    params = dict(C_IN=c_in, C_OUT=c_out, K=k, PIXELS=pixels, DEPTHWISE=dw, PE=pe, SIMD=simd, IN_W=in_w, W_W=8,
                  ACC_W=acc, BIAS_W=16, M_W=m, S_W=s, OUT_W=8)
    layer = dict(name=name, kind="temporal_conv", pe=pe, simd=simd, multipliers=pe if dw else pe * simd,
                 groups=c_in if dw else 1,
                 in_bits=in_w, out_bits=8, weight_bits=8, acc_bits=acc, m_bits=m, s_bits=s,
                 in_shape=[c_in, pixels, 1], out_shape=[c_out, pixels, 1],
                 memories=[dict(name="history", kind="circular_buffer", depth=(k - 1) * pixels, width=c_in * in_w)])
    return name, "temporal_conv_buffer", params, layer


def _conv(name, h, w, c, k, stride, dw, pe, simd, acc, m=8, s=4):
    params = dict(H=h, W=w, C_IN=c, C_OUT=k, STRIDE=stride, DEPTHWISE=dw, PE=pe, SIMD=simd, IN_W=8, W_W=8,
                  ACC_W=acc, M_W=m, S_W=s)
    layer = dict(name=name, kind="conv3x3", pe=pe, simd=1 if dw else simd, multipliers=pe if dw else pe * simd,
                 groups=c if dw else 1,
                 in_bits=8, out_bits=8, weight_bits=8, acc_bits=acc, m_bits=m, s_bits=s,
                 in_shape=[c, h, w], out_shape=[k, (h - 1) // stride + 1, (w - 1) // stride + 1],
                 memories=[dict(name="lines", kind="line_buffer", depth=(4 if stride > 1 else 3) * w, width=c * 8)])
    return name, "conv3x3_stream", params, layer


def _mvu(name, c_in, c_out, pe, simd, acc, m, s, out_signed=0):
    params = dict(C_IN=c_in, C_OUT=c_out, PE=pe, SIMD=simd, IN_W=8, W_W=8, ACC_W=acc, BIAS_W=16, M_W=m, S_W=s,
                  OUT_W=8, OUT_SIGNED=out_signed)
    layer = dict(name=name, kind="pointwise", pe=pe, simd=simd, multipliers=pe * simd, groups=1, in_bits=8,
                 out_bits=8, weight_bits=8, acc_bits=acc, m_bits=m, s_bits=s, in_shape=[c_in, 1, 1],
                 out_shape=[c_out, 1, 1], memories=[])
    return name, "pointwise_mvu", params, layer


def _gap(name, h, w, c):
    sum_bits = 8 + math.ceil(math.log2(h * w + 1)) + 1
    params = dict(H=h, W=w, C=c, PE=1, IN_W=8)
    layer = dict(name=name, kind="avgpool", pe=1, simd=1, multipliers=0, groups=c, in_bits=8, out_bits=8,
                 weight_bits=0, acc_bits=sum_bits, m_bits=16, s_bits=6, in_shape=[c, h, w], out_shape=[c, 1, 1],
                 memories=[])
    return name, "avgpool_stream", params, layer


CASES = [
    _tcb("tconv_dw_8ch", 8, 8, 10, 1024, 1, 8, 1, 8, 24),
    _tcb("tconv_full_2to8", 2, 8, 10, 4096, 0, 4, 2, 4, 20),
    _conv("conv3x3_full_8to16", 32, 32, 8, 16, 2, 0, 4, 4, 24),
    _conv("conv3x3_dw_32", 16, 16, 32, 32, 2, 1, 4, 1, 20),
    _mvu("pointwise_32to48", 32, 48, 4, 8, 24, 16, 6),
    _mvu("head_64to10", 64, 10, 2, 4, 20, 8, 4, 1),
    _gap("avgpool_4x4x64", 4, 4, 64),
]   # add layers: the generator wraps axis_add with per-channel requants, so only whole builds check them


def _ratio(est: dict, syn: dict) -> dict:
    return {k: (est[k] / syn[k] if syn[k] else (1.0 if est[k] == 0 else None)) for k in ("lut", "ff", "dsp", "bram_bits")}


def main() -> None:
    files = sorted(TEMPLATES.glob("*.v"))
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "build" if (ROOT / "build").exists() else None) as tmp:
        for target in ("LFE5U-85F", "xc7z020"):
            part = get_part(target)
            for name, module, params, layer in CASES:
                syn = run_synth(files, module, part, Path(tmp) / f"{target}_{name}", params=params, progress=False)
                est = estimate_layer(layer, part)
                rows.append({"case": name, "target": target, "in_bars": True, "estimate": {k: est[k] for k in BARS | {"ff": 0}},
                             "synth": {k: syn.utilization[k] for k in BARS | {"ff": 0}},
                             "ratio": _ratio(est, syn.utilization), "synth_seconds": syn.seconds})
                print(rows[-1], flush=True)
            # the hand-written test design (not template RTL: informational) and every generated build
            manifests = [(ROOT / "tests" / "data" / "mac_stream" / "manifest.json", False)]
            if (ROOT / "build").exists():
                chosen = [n for n in os.environ.get("PLEIADES_BENCH_BUILDS", "").split(",") if n]
                manifests += [(p, True) for p in sorted((ROOT / "build").glob("*/manifest.json"))
                              if not chosen or p.parent.name in chosen]
            for path, in_bars in manifests:
                m = json.loads(path.read_text())
                rtl = [path.parent / f for f in m["rtl_files"]]
                syn = run_synth(rtl, m["top"], part, Path(tmp) / f"{target}_{m['name']}", progress=False)
                est = estimate_manifest(m, part)["total"]
                rows.append({"case": f"design:{m['name']}", "target": target, "in_bars": in_bars,
                             "estimate": {k: est[k] for k in ("lut", "ff", "dsp", "bram_bits")},
                             "synth": {k: syn.utilization[k] for k in ("lut", "ff", "dsp", "bram_bits")},
                             "ratio": _ratio(est, syn.utilization), "synth_seconds": syn.seconds})
                print(rows[-1], flush=True)
    worst = {}
    for key, bar in BARS.items():
        errs = [abs(r["ratio"][key] - 1.0) for r in rows if r["in_bars"] and r["ratio"][key] is not None]
        worst[key] = {"max_relative_error": max(errs) if errs else None, "bar": bar,
                      "within_bar": bool(errs) and max(errs) <= bar}
    write_result("estimate_vs_synth", {"cases": rows, "worst": worst,
                                       "note": "ratio = estimate / Yosys synthesis; templates synthesized alone; "
                                               "rows with in_bars = false (hand-written test RTL) are informational"})


if __name__ == "__main__":
    main()
