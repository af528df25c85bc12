"""The analytic estimator against Yosys on layer templates (the cases of bench/estimate_vs_synth.py).

Bars of issue #5: LUT within 25 %, DSP blocks and block-RAM bits within 10 % of what Yosys reports.
The whole default network is checked by the benchmarks (estimate_vs_synth, board_ulx3s), which take longer.
"""
import pytest

from bench.estimate_vs_synth import BARS, CASES, TEMPLATES
from pleiades_fpga.report.estimate import estimate_layer
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.toolflow.synth import run_synth

PICK = ("tconv_full_2to8", "conv3x3_full_8to16", "head_64to10")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["LFE5U-85F", "xc7z020"])
@pytest.mark.parametrize("case", PICK)
def test_estimate_within_bars_of_yosys(tmp_path, target, case):
    name, module, params, layer = next(c for c in CASES if c[0] == case)
    part = get_part(target)
    syn = run_synth(sorted(TEMPLATES.glob("*.v")), module, part, tmp_path / name, params=params, progress=False)
    est = estimate_layer(layer, part)
    for key, bar in BARS.items():
        got, want = est[key], syn.utilization[key]
        assert abs(got - want) <= bar * max(want, 1), f"{case} on {target}: {key} estimate {got} vs Yosys {want}"
