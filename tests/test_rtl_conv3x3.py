"""conv3x3_stream (in the layer wrapper the generator ships, rom.mac_layer_files) against a straightforward
numpy reference (zero-padded correlation, stride, requant).

Random shapes (odd and even H, W >= 3), channels, widths and weights, folding (also PE/SIMD not
dividing the channel counts), stride 1 and 2, full and depthwise; several frames back to back with
random back-pressure on both sides, then a run without back-pressure whose cycles per frame must be
within 5 % of ``cycles_spatial.conv3x3_cycles``. The same with the sliced line buffer (``LB_SLICED`` = 1: one word
per fold slice), and the generator's choice of it (``kinds.conv3x3.line_slices``).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.rom import files_text, mac_layer_files
from pleiades_fpga.sim import axis
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.toolflow.locate import have_simulator


def requant_ref(acc: int, m: int, s: int, bits: int, signed: bool) -> int:
    """clamp(round_half_even(acc * m / 2**s)); Python's round() of a Fraction rounds half to even."""
    v = round(Fraction(acc * m, 2 ** s))
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return min(max(v, lo), hi)


def conv_acc_ref(x: np.ndarray, w: np.ndarray, bias: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    """Accumulators (F, K, HO, WO) of a 3x3 correlation with zero padding 1, by explicit loops."""
    f_n, c_n, h, wd = x.shape
    k_n = w.shape[0]
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    out = np.zeros((f_n, k_n, ho, wo), dtype=object)
    for f in range(f_n):
        for k in range(k_n):
            for oy in range(ho):
                for ox in range(wo):
                    acc = int(bias[k])
                    for ky in range(3):
                        for kx in range(3):
                            iy, ix = oy * stride + ky - 1, ox * stride + kx - 1
                            if not (0 <= iy < h and 0 <= ix < wd):
                                continue
                            if depthwise:
                                acc += int(w[k, ky, kx]) * int(x[f, k, iy, ix])
                            else:
                                for c in range(c_n):
                                    acc += int(w[k, c, ky, kx]) * int(x[f, c, iy, ix])
                    out[f, k, oy, ox] = acc
    return out


def signed_bits(lo: int, hi: int) -> int:
    """Two's complement width holding lo..hi."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def make_case(seed: int, h: int, w: int, c: int, k: int, stride: int, depthwise: bool, pe: int, simd: int,
              n_frames: int, sliced: bool = False) -> dict:
    """Random layer (widths, weights, bias, requant) and input frames; expected outputs by the reference.
    ``sliced``: the template's sliced line buffer (LB_SLICED = 1)."""
    rng = np.random.default_rng(seed)
    in_bits, w_bits, out_bits = (int(rng.integers(2, 9)) for _ in range(3))
    in_signed, out_signed = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
    xlo, xhi = axis_range(in_bits, in_signed)
    x = rng.integers(xlo, xhi + 1, size=(n_frames, c, h, w))
    wshape = (c, 3, 3) if depthwise else (k, c, 3, 3)
    weights = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=wshape)
    xmax = max(abs(xlo), abs(xhi))
    wsum = np.abs(weights).reshape(k, -1).sum(axis=1)
    bias = rng.integers(-xmax * wsum // 4 - 1, xmax * wsum // 4 + 2)
    bound = int((xmax * wsum + np.abs(bias)).max())
    acc_bits = signed_bits(-bound, bound)        # the generator's no-overflow width
    acc = conv_acc_ref(x, weights, bias, stride, depthwise)
    m_bits = int(rng.integers(1, 12))
    mult = rng.integers(1, 1 << m_bits, size=k)
    spread = np.array([max(1, int(np.abs(acc[:, j].astype(np.int64)).max())) for j in range(k)])
    shift = np.maximum(0, np.round(np.log2(spread * mult / (1 << (out_bits - 1)))).astype(int)
                       + rng.integers(-1, 2, size=k)).astype(int)
    params = {
        "H": h, "W": w, "C_IN": c, "C_OUT": k, "STRIDE": stride, "DEPTHWISE": int(depthwise), "PE": pe,
        "SIMD": simd, "IN_W": in_bits, "IN_SIGNED": int(in_signed), "W_W": w_bits,
        "ACC_W": acc_bits, "BIAS_W": signed_bits(int(bias.min()), int(bias.max())),
        "M_W": m_bits, "S_W": max(1, int(shift.max()).bit_length()),
        "OUT_W": out_bits, "OUT_SIGNED": int(out_signed), **({"LB_SLICED": 1} if sliced else {}),
    }
    expected = np.vectorize(lambda a, j: requant_ref(int(a), int(mult[j]), int(shift[j]), out_bits, out_signed),
                            otypes=[np.int64])(acc, np.arange(k)[None, :, None, None])
    return {"params": params, "weights": weights, "bias": bias, "mult": mult, "shift": shift, "x": x,
            "expected": expected}


def axis_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def run_case(tmp_path, sim: str, case: dict, n_pressure: int, seed: int, p_in: float = 0.4,
             p_out: float = 0.4) -> tuple[float, int]:
    """Simulate ``case`` on ``sim`` (frames with random back-pressure, then a reset and the rest without),
    compare every output integer and the cycles per frame. Returns (measured, modelled) cycles per frame."""
    p = case["params"]
    top = f"conv3x3_top_{seed}"
    src = tmp_path / f"{top}.v"
    w = case["weights"]
    w = w.reshape(w.shape[0], 1, 9) if p["DEPTHWISE"] else w.reshape(w.shape[0], w.shape[1], 9)  # tap = ky*3 + kx
    src.write_text(files_text(mac_layer_files(top, "conv3x3_stream", p, w, case["bias"], case["mult"], case["shift"])))
    words = [axis.pack_frame(fr, p["IN_W"], bool(p["IN_SIGNED"])) for fr in case["x"]]
    dw = bool(p["DEPTHWISE"])
    slices = cycles_spatial.conv3x3_line_slices(p["C_IN"], p["C_OUT"], p["PE"], p["SIMD"], dw) if p.get("LB_SLICED") else 1
    model = cycles_spatial.conv3x3_cycles(p["H"], p["W"], p["C_IN"], p["C_OUT"], p["STRIDE"], p["PE"], p["SIMD"], dw,
                                          slices)
    tmo = 20 * model * len(words) + 2000
    scenarios = [{"frames": words[:n_pressure], "seed": seed, "in_pause": p_in, "out_pause": p_out, "timeout_cycles": tmo},
                 {"frames": words[n_pressure:], "seed": seed + 1, "timeout_cycles": tmo}]
    run = run_testbench(top, [*template_sources("conv3x3_stream"), src], "pleiades_fpga.sim.tb.tb_conv3x3", sim=sim,
                        vectors={"scenarios": scenarios})
    ho, wo = cycles_spatial.conv3x3_out_shape(p["H"], p["W"], p["STRIDE"])
    runs = run.results["runs"]
    got = [axis.unpack_frame(fr, p["C_OUT"], ho, wo, p["OUT_W"], bool(p["OUT_SIGNED"]))
           for r in runs for fr in r["out"]]
    assert len(got) == len(case["x"])
    mismatches = int(sum((g != e).sum() for g, e in zip(got, case["expected"])))
    assert mismatches == 0, f"{mismatches} mismatching outputs for {p}"
    done = runs[1]["out_end_cycle"]
    assert len(done) == len(case["x"]) - n_pressure
    measured = (done[-1] - done[0]) / (len(done) - 1)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"
    return measured, model


def draw_shape(seed: int, stride: int, depthwise: bool, h_odd: bool, w_odd: bool) -> tuple:
    """Random (seed, H, W, C, K, stride, depthwise, PE, SIMD) with H, W >= 3 of the given parities."""
    rng = np.random.default_rng(seed)
    h = 2 * int(rng.integers(2, 4)) + int(h_odd)          # 4, 6 or 5, 7
    w = 2 * int(rng.integers(1, 4)) + int(w_odd)          # 2..7 -> even 4, 6; odd 3, 5, 7
    w = max(w, 3)
    c = int(rng.integers(1, 6))
    k = c if depthwise else int(rng.integers(1, 6))
    pe, simd = int(rng.integers(1, 5)), 1 if depthwise else int(rng.integers(1, 4))
    return (seed, h, w, c, k, stride, depthwise, pe, simd)


# both strides, both kinds, odd and even H and W; folding drawn at random (often not dividing C, K)
ICARUS_CASES = [
    draw_shape(11, 1, False, True, False),
    draw_shape(12, 2, True, False, True),
    draw_shape(13, 2, False, False, True),
    (14, 7, 2, 2, 2, 2, True, 1, 1),   # narrow frame: the cycle model's row-start stalls matter here
    (15, 2, 2, 3, 2, 2, False, 1, 2),  # 2x2 -> 1x1, as in the last stride-2 layer of a small network
]
VERILATOR_CASES = [
    draw_shape(21, 2, False, True, False),
    draw_shape(22, 1, True, False, True),
]


# sliced line buffer (LB_SLICED = 1), every case with XG > 1 slices per pixel: full (CF > 1) and depthwise (KF > 1),
# both strides, a narrow frame whose row-start stalls cost XG cycles per missing column
SLICED_ICARUS_CASES = [
    (31, 5, 6, 5, 3, 1, False, 2, 2),   # CF = 3
    (32, 6, 7, 5, 5, 2, True, 2, 1),    # KF = 3
    (33, 7, 2, 2, 2, 2, True, 1, 1),    # narrow: stalls
    (34, 6, 5, 4, 3, 2, False, 1, 3),   # CF = 2, SIMD not dividing C_IN
]
SLICED_VERILATOR_CASES = [
    (41, 5, 5, 4, 4, 1, True, 1, 1),    # KF = 4
    (42, 6, 6, 7, 3, 2, False, 3, 2),   # CF = 4
]


def _ids(cases):
    return [f"h{c[1]}w{c[2]}c{c[3]}k{c[4]}s{c[5]}{'dw' if c[6] else 'full'}pe{c[7]}simd{c[8]}" for c in cases]


def test_reference_hand_case():
    """The numpy reference itself on a hand-computed 3x3 case (all-ones weights = 3x3 box sum)."""
    x = np.arange(9).reshape(1, 1, 3, 3)
    acc = conv_acc_ref(x, np.ones((1, 1, 3, 3), dtype=int), np.array([0]), 1, False)
    assert acc[0, 0].tolist() == [[8, 15, 12], [21, 36, 27], [20, 33, 24]]
    acc2 = conv_acc_ref(x, np.ones((1, 3, 3), dtype=int), np.array([1]), 2, True)
    assert acc2[0, 0].tolist() == [[9, 13], [21, 25]]
    assert requant_ref(5, 1, 1, 8, False) == 2 and requant_ref(7, 1, 1, 8, False) == 4
    assert requant_ref(-3, 1, 1, 8, True) == -2 and requant_ref(-3, 1, 1, 8, False) == 0


@pytest.mark.parametrize("cfg", ICARUS_CASES, ids=_ids(ICARUS_CASES))
def test_conv3x3_icarus(tmp_path, cfg):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    seed, *shape = cfg
    run_case(tmp_path, "icarus", make_case(seed, *shape, n_frames=6), n_pressure=3, seed=seed)


@pytest.mark.parametrize("cfg", VERILATOR_CASES, ids=_ids(VERILATOR_CASES))
def test_conv3x3_verilator(tmp_path, cfg):
    seed, *shape = cfg
    run_case(tmp_path, "verilator", make_case(seed, *shape, n_frames=6), n_pressure=3, seed=seed)


@pytest.mark.parametrize("cfg", SLICED_ICARUS_CASES, ids=_ids(SLICED_ICARUS_CASES))
def test_conv3x3_sliced_icarus(tmp_path, cfg):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    seed, *shape = cfg
    run_case(tmp_path, "icarus", make_case(seed, *shape, n_frames=6, sliced=True), n_pressure=3, seed=seed)


@pytest.mark.parametrize("cfg", SLICED_VERILATOR_CASES, ids=_ids(SLICED_VERILATOR_CASES))
def test_conv3x3_sliced_verilator(tmp_path, cfg):
    seed, *shape = cfg
    run_case(tmp_path, "verilator", make_case(seed, *shape, n_frames=6, sliced=True), n_pressure=3, seed=seed)


# generate branches: full/depthwise, stride 1/2, folds dividing or not, accumulator narrower than a
# product, 1-pixel-wide frames, signed input/output
LINT_SETS = [
    {},
    {"DEPTHWISE": 1, "C_IN": 5, "C_OUT": 5, "PE": 2, "STRIDE": 2},
    {"C_IN": 5, "C_OUT": 7, "PE": 3, "SIMD": 2, "STRIDE": 2, "IN_SIGNED": 1, "OUT_SIGNED": 1},
    {"H": 3, "W": 3, "C_IN": 1, "C_OUT": 1, "ACC_W": 6, "BIAS_W": 9, "IN_W": 8, "W_W": 8},
    {"H": 2, "W": 1, "STRIDE": 2, "DEPTHWISE": 1, "PE": 4, "C_IN": 4, "C_OUT": 4},
    {"H": 32, "W": 32, "C_IN": 16, "C_OUT": 32, "PE": 4, "SIMD": 8, "ACC_W": 20, "M_W": 16, "S_W": 6},
    # sliced line buffer: full and depthwise, both strides, slices not a power of two, 1-pixel-wide frames
    {"LB_SLICED": 1, "C_IN": 5, "C_OUT": 7, "PE": 3, "SIMD": 2, "STRIDE": 2, "IN_SIGNED": 1, "OUT_SIGNED": 1},
    {"LB_SLICED": 1, "DEPTHWISE": 1, "C_IN": 5, "C_OUT": 5, "PE": 2},
    {"LB_SLICED": 1, "H": 2, "W": 1, "STRIDE": 2, "DEPTHWISE": 1, "PE": 1, "C_IN": 64, "C_OUT": 64},
    {"LB_SLICED": 1, "H": 16, "W": 16, "STRIDE": 2, "DEPTHWISE": 1, "PE": 1, "C_IN": 96, "C_OUT": 96, "IN_W": 12,
     "ACC_W": 24},
    {"LB_SLICED": 1, "C_IN": 4, "C_OUT": 4, "SIMD": 4},   # one slice: the same as LB_SLICED = 0
]


@pytest.mark.parametrize("params", LINT_SETS, ids=[str(i) for i in range(len(LINT_SETS))])
def test_conv3x3_verilator_lint(params):
    from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint

    rep = verilator_lint("conv3x3_stream", template_sources("conv3x3_stream"), params)
    assert rep.ok, "\n".join(rep.messages)


@pytest.mark.parametrize("sliced", [0, 1])
def test_conv3x3_yosys_no_latches(sliced):
    from pleiades_fpga.hw.rtl.lint import template_sources, yosys_synth

    rep = yosys_synth("conv3x3_stream", template_sources("conv3x3_stream"),
                      {"DEPTHWISE": 1, "C_IN": 3, "C_OUT": 3, "PE": 2, "STRIDE": 2, "H": 5, "W": 5, "LB_SLICED": sliced})
    assert rep.latches == 0
    assert rep.cells.get("cells", 1) > 0


@pytest.mark.parametrize("params", [s for s in LINT_SETS if s.get("LB_SLICED")], ids=lambda p: str(sorted(p.items())))
def test_conv3x3_sliced_icarus_elaborates(params):
    from pleiades_fpga.hw.rtl.lint import icarus_elaborate

    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    rep = icarus_elaborate("conv3x3_stream", template_sources("conv3x3_stream"), params)
    assert rep.ok, "\n".join(rep.messages)


@pytest.mark.parametrize("tool", ["verilator", "icarus", "yosys"])
def test_conv3x3_lb_sliced_illegal_value_rejected(tool):
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.hw.rtl.lint import icarus_elaborate, verilator_lint, yosys_synth

    src, params, rule = template_sources("conv3x3_stream"), {"LB_SLICED": 2}, "PARAMETER_ERROR_conv3x3_stream_LB_SLICED"
    if tool == "yosys":
        with pytest.raises(PleiadesError, match=rule):
            yosys_synth("conv3x3_stream", src, params, target="prep")
        return
    if tool == "icarus" and not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    rep = verilator_lint("conv3x3_stream", src, params) if tool == "verilator" else icarus_elaborate("conv3x3_stream", src, params)
    assert not rep.ok and any(rule in m for m in rep.messages), "\n".join(rep.messages)


# ---------------------------------------------------------------- the generator's choice of the sliced line buffer
def _spatial_graph(c_in: int, c_out: int, h: int, w: int, stride: int, depthwise: bool, bits: int = 8):
    """A one-layer IR graph: a 3x3 spatial conv (depthwise or full) on an h x w map of ``bits``-bit inputs."""
    from pleiades_fpga.ir.graph import IRGraph, Layer, TensorSpec
    from pleiades_fpga.ir.kinds.conv import ConvParams

    groups = c_in if depthwise else 1
    params = ConvParams(role="spatial", weight=np.ones((c_out, c_in // groups, 1, 3, 3), dtype=np.int64), weight_bits=4,
                        weight_scale=np.ones(c_out), bias=np.zeros(c_out, np.int64), groups=groups, kernel=(1, 3, 3),
                        stride=(stride, stride), padding=(1, 1))
    ho, wo = cycles_spatial.conv3x3_out_shape(h, w, stride)
    layer = Layer("blocks.0.spatial", "conv", ["x"], "y", params=params, in_channels=c_in, out_channels=c_out,
                  in_bits=bits, acc_bits=20, multiplier=np.ones(c_out, np.int64), shift=np.zeros(c_out, np.int64),
                  relu=True, out_bits=8, out_signed=False)
    tensors = {"x": TensorSpec("x", c_in, h, w, bits, False, np.array(1.0)),
               "y": TensorSpec("y", c_out, ho, wo, 8, False, np.array(1.0))}
    return IRGraph("x", "y", tensors, [layer]), layer


@pytest.mark.parametrize("depthwise,c_in,h,pe,simd,slices,depth,width", [
    (True, 64, 32, 1, 1, 64, 4 * 32 * 64, 8),      # published blocks.2: 128 x 512 (15 blocks) -> 8192 x 8 (4)
    (False, 32, 64, 1, 8, 4, 4 * 64 * 4, 64),      # published blocks.1 (8-bit): 256 x 256 (8 blocks) -> 1024 x 64 (4)
    (True, 64, 32, 64, 1, 1, 4 * 32, 512),         # PE = C: one slice per pixel, nothing to slice
    (True, 32, 8, 1, 1, 1, 4 * 8, 256),            # 32 x 256 is LUT RAM: sliced (1024 x 8) would take a block RAM
])
def test_generator_slices_wide_shallow_line_buffers(depthwise, c_in, h, pe, simd, slices, depth, width):
    from pleiades_fpga.hw.rtl.kinds.conv3x3 import Conv3x3, line_slices
    from pleiades_fpga.hw.rtl.lowering import Fold

    graph, layer = _spatial_graph(c_in, c_in, h, h, 2, depthwise)
    fold = Fold(pe=pe, simd=simd)
    assert line_slices(graph, layer, fold) == slices
    low = Conv3x3().lower(graph, layer, "L0", fold)
    assert low.params["LB_SLICED"] == int(slices > 1)
    lines = next(m for m in low.memories if m["kind"] == "line_buffer")
    assert (lines["depth"], lines["width"]) == (depth, width)
    # the cycles per frame are those of the whole-pixel line buffer (the mode is only chosen when it costs none)
    assert Conv3x3().cost(graph, layer, fold)["cycles_per_frame"] == cycles_spatial.conv3x3_cycles(
        h, h, c_in, c_in, 2, pe, 1 if depthwise else simd, depthwise)


def test_generator_keeps_whole_pixels_when_slicing_costs_cycles():
    """On a part whose LUT RAM is tiny, a narrow frame's line buffer would save block RAM sliced, but 4 pixels wide
    at stride 2 the first window of each output row waits for the input (XG cycles per missing column): kept whole;
    8 wide (no stall) sliced."""
    from pleiades_fpga.hw.rtl.kinds.conv3x3 import line_slices
    from pleiades_fpga.hw.rtl.lowering import Fold
    from pleiades_fpga.toolflow.parts import Part

    tiny = Part("tiny", "ecp5", 1000, 4, 1000, 10, 18, 18, 100, lutram_max_bits=16, lutram_max_depth=4)
    fold = Fold(pe=1, simd=1)
    for width, slices in ((4, 1), (8, 64)):
        graph, layer = _spatial_graph(64, 64, 8, width, 2, True)
        whole = cycles_spatial.conv3x3_cycles(8, width, 64, 64, 2, 1, 1, True)
        sliced = cycles_spatial.conv3x3_cycles(8, width, 64, 64, 2, 1, 1, True, slices=64)
        assert (sliced > whole) == (width == 4)
        assert line_slices(graph, layer, fold, parts=[tiny]) == slices
