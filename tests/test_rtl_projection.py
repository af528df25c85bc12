"""projection_state.v (recurrent temporal layer) against pleiades_fpga.ir.kinds.projection.project_int.

Each configuration streams >= 12 frames with random back-pressure and idle cycles on both sides, then
resets and streams a fresh clip without pauses: the states must equal project_int from a zero state (so
reset must clear the state memory), and the measured cycles per frame must match the analytic model.
One configuration has an unstable A so that saturation (the clamp) is exercised and checked.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.ir.kinds.projection import ProjectionStats, project_int
from pleiades_fpga.quant.projection_format import choose_projection_format
from pleiades_fpga.hw.rtl.cycles import projection_cycles_per_frame, projection_reset_cycles
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint
from pleiades_fpga.hw.rtl.projection_rtl import projection_params, projection_wrapper
from pleiades_fpga.sim.axis import pack_frame, unpack_frame
from pleiades_fpga.sim.runner import run_testbench

pytestmark = pytest.mark.rtl


def legt(K: int, D: int) -> tuple[np.ndarray, np.ndarray]:
    tt = np.linspace(-1, 1, K)
    E = np.stack([np.polynomial.legendre.Legendre.basis(n)(tt) for n in range(D)], 1)
    Ep = np.linalg.pinv(E)
    return Ep @ np.eye(K, k=1) @ E, Ep[:, -1]


def make_layer(rng, c, d, in_bits, in_signed, unstable):
    x_lo, x_hi = (-(2 ** (in_bits - 1)), 2 ** (in_bits - 1) - 1) if in_signed else (0, 2**in_bits - 1)
    if unstable:  # random integers, |A_real| up to ~1.5: states saturate
        f, bits = 4, 7
        A = rng.integers(-24, 25, (d, d))
        B = rng.integers(-16, 17, d)
    else:
        a, b = legt(int(rng.integers(6, 21)), d)
        fmt = choose_projection_format(a, b, 1.0, x_lo, x_hi)
        A, B, f, bits = fmt.A, fmt.B, fmt.frac_bits, fmt.state_bits
    from pleiades_fpga.quant.projection_format import projection_acc_bits

    return A, B, f, bits, projection_acc_bits(A, B, x_lo, x_hi, bits), x_lo, x_hi


def run_config(sim: str, tmp_path: Path, seed: int, c: int, d: int, pe: int, simd: int, h: int, w: int,
               in_bits: int, in_signed: bool, unstable: bool = False, pause: float = 0.35) -> dict:
    rng = np.random.default_rng(seed)
    A, B, f, bits, acc_bits, x_lo, x_hi = make_layer(rng, c, d, in_bits, in_signed, unstable)
    params = projection_params(A, B, f, c, h * w, in_bits, in_signed, bits, acc_bits, pe, simd)
    name = f"proj_top_{seed}"
    top = tmp_path / f"{name}.v"
    top.write_text(projection_wrapper(name, params))
    sources = [*template_sources("projection_state"), top]
    lint = verilator_lint(name, [*template_sources("projection_state"), top])
    assert lint.ok, "\n".join(lint.messages)
    n_frames = 12
    clips = [rng.integers(x_lo, x_hi + 1, size=(n_frames, c, h, w)) for _ in range(2)]
    scenarios = [
        {"frames": [pack_frame(fr, in_bits, in_signed) for fr in clip], "seed": seed + i,
         "in_pause": pause if i == 0 else 0.0, "out_pause": pause if i == 0 else 0.0,
         "timeout_cycles": 50 * n_frames * h * w * (c * d + 10)}
        for i, clip in enumerate(clips)
    ]
    run = run_testbench(name, sources, "pleiades_fpga.sim.tb.tb_projection", sim=sim, vectors={"scenarios": scenarios})
    sat = 0
    for i, (clip, res) in enumerate(zip(clips, run.results["runs"])):
        stats = ProjectionStats()
        exp = project_int(clip, A, B, f, bits, stats=stats)
        sat += stats.saturated
        assert len(res["out"]) == n_frames, f"scenario {i}: {len(res['out'])} output frames, expected {n_frames}"
        for t, words in enumerate(res["out"]):
            assert len(words) == h * w, f"scenario {i} frame {t}: {len(words)} beats, expected {h * w}"
            got = unpack_frame(words, c * d, h, w, bits, True)
            bad = np.argwhere(got != exp[t])
            assert bad.size == 0, (f"scenario {i} frame {t}: {len(bad)} mismatches, first (ch, y, x) = {bad[0]}: "
                                   f"rtl {got[tuple(bad[0])]} ref {exp[t][tuple(bad[0])]}; params {params}")
        assert len(np.unique(exp)) > 8  # non-trivial states
    if unstable:
        assert sat > 0, "the unstable configuration must exercise saturation"
    ends = run.results["runs"][1]["out_end_cycle"]
    measured = (ends[-1] - ends[1]) / (len(ends) - 2)
    model = projection_cycles_per_frame(c, d, h * w, pe, simd)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"
    extra = ends[0] - projection_reset_cycles(h * w, c, simd) - model
    assert 0 <= extra <= 5, f"first output frame ends at cycle {ends[0]}: {extra} cycles beyond clear + compute"
    return {"measured": measured, "model": model, "params": params, "saturated": sat}


# (seed, C, D, PE, SIMD, H, W, in_bits, in_signed, unstable)
CONFIGS = [
    (1, 3, 5, 5, 1, 4, 4, 4, False, False),
    (2, 4, 5, 2, 3, 3, 5, 3, True, False),
    (3, 2, 4, 4, 2, 1, 1, 4, False, False),    # one pixel per frame (state word read after its write)
    (4, 3, 3, 1, 1, 3, 3, 5, True, True),      # saturating
    (5, 5, 5, 3, 5, 2, 3, 2, False, False),
    (6, 3, 5, 5, 1, 1, 1, 3, False, False),    # one pixel, three channel groups (no extra cycle)
]


@pytest.mark.xdist_group("rtl_projection")
@pytest.mark.parametrize("seed,c,d,pe,simd,h,w,in_bits,in_signed,unstable", CONFIGS)
def test_projection_icarus(tmp_path, seed, c, d, pe, simd, h, w, in_bits, in_signed, unstable):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    r = run_config("icarus", tmp_path, seed, c, d, pe, simd, h, w, in_bits, in_signed, unstable)
    print(f"cycles/frame measured {r['measured']:.1f}, model {r['model']}, saturated {r['saturated']}")


@pytest.mark.xdist_group("rtl_projection")
@pytest.mark.parametrize("seed,c,d,pe,simd,h,w,in_bits,in_signed,unstable", [CONFIGS[1], CONFIGS[3]])
def test_projection_verilator(tmp_path, seed, c, d, pe, simd, h, w, in_bits, in_signed, unstable):
    r = run_config("verilator", tmp_path, seed, c, d, pe, simd, h, w, in_bits, in_signed, unstable)
    print(f"verilator: cycles/frame measured {r['measured']:.1f}, model {r['model']}")


@pytest.mark.xdist_group("rtl_projection")
def test_state_memory_infers_ecp5_block_ram():
    from pleiades_fpga.hw.rtl.lint import yosys_synth

    params = dict(C_IN=4, D=5, OUT_W=12, PIXELS=256, PE=5, SIMD=1, ACC_W=28, COEF_W=12)
    rep = yosys_synth("projection_state", template_sources("projection_state"), params, target="ecp5")
    assert rep.latches == 0
    # states = 256 pixels x 4 channels x 5 states x 12 bits = 61,440 bits (1024 words of 60 bits): block RAM,
    # not flip-flops (those are the output queue and the partial state vector: 3 x 240 bits + control)
    assert rep.cells.get("DP16KD", 0) >= 4, f"no block RAM inferred: {rep.cells}"
    assert rep.cells.get("TRELLIS_FF", 0) < 1500, rep.cells
