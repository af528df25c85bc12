"""Temporal memory report (buffer vs recurrent bits, crossover K*) and the projection estimate, by hand."""
from __future__ import annotations

import numpy as np

from pleiades_fpga.ir.kinds.projection import ProjectionStats, project_int
from pleiades_fpga.quant.projection_format import choose_projection_format, legt_matrices
from pleiades_fpga.report.estimate import estimate_layer
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.report.report import build_report
from pleiades_fpga.report.temporal_memory import analysed_state_bits, crossover_k, memory_row, temporal_memory


def _manifest(layers):
    return {"format": "pleiades-fpga-manifest/1", "name": "t", "top": "t", "rtl_files": [], "clock_mhz_target": 50.0,
            "input": {"channels": 2, "height": 8, "width": 8, "bits": 8, "signed": False, "bin_us": 5000},
            "output": {"channels": 10, "bits": 8, "signed": True, "scale": 1.0}, "layers": layers,
            "cycles_per_frame": 1000, "latency_cycles": 2000}


def test_rows_hand_computed():
    r = memory_row("t", "recurrent", 20, 8, 16 * 16, 4, False, d=5, state_bits=12)
    assert r["buffer_bits"] == 19 * 8 * 256 * 4 and r["state_memory_bits"] == 5 * 8 * 256 * 12
    assert r["recurrent_wins"] is True
    # (K-1) * 4 > 5 * 12  <=>  K >= 17
    assert r["crossover_k"] == 17 == crossover_k(5, 4, state_bits=12)
    r10 = memory_row("t", "recurrent", 10, 8, 256, 4, False, d=5, state_bits=12)
    assert r10["recurrent_wins"] is False


def test_analysed_width_is_sufficient_and_crossover_consistent():
    for k in (10, 20):
        bits = analysed_state_bits(k, 5, 4, False)
        A, B, _ = legt_matrices(k, 5)
        fmt = choose_projection_format(A, B, 1.0, 0, 15)
        assert fmt.state_bits == bits
        # a long all-max / alternating input never saturates at that width
        for x in (np.full((300, 1, 1, 1), 15), np.tile([15, 0], 150).reshape(300, 1, 1, 1)):
            st = ProjectionStats()
            project_int(x, fmt.A, fmt.B, fmt.frac_bits, bits, stats=st)
            assert st.saturated == 0
    k_star = crossover_k(5, 4)
    assert (k_star - 1) * 4 > 5 * analysed_state_bits(k_star, 5, 4, False)
    assert (k_star - 2) * 4 <= 5 * analysed_state_bits(k_star - 1, 5, 4, False)


def test_report_has_temporal_memory_and_state_bram():
    state = {"name": "s", "kind": "state", "depth": 1024, "width": 8 * 5 * 12, "bits": 1024 * 480}
    proj = {"name": "p", "kind": "projection", "module": "projection_state", "in_shape": [8, 32, 32],
            "out_shape": [40, 32, 32], "in_bits": 4, "out_bits": 12, "weight_bits": 0, "acc_bits": 30, "kernel": 1,
            "pe": 5, "simd": 1, "multipliers": 30, "macs_per_frame": 1024 * 8 * 30, "cycles_per_frame": 8192,
            "memories": [state], "state_dim": 5, "state_bits": 12, "window": 20, "in_signed": False,
            "params": {"COEF_W": "14", "S_W": "12"}}
    buf = {"name": "b", "kind": "temporal_conv", "module": "temporal_conv_buffer", "in_shape": [8, 32, 32],
           "out_shape": [8, 32, 32], "in_bits": 4, "out_bits": 4, "weight_bits": 4, "acc_bits": 12, "kernel": 20,
           "pe": 8, "simd": 1, "multipliers": 8, "macs_per_frame": 1, "cycles_per_frame": 20480, "groups": 8,
           "memories": [{"name": "h", "kind": "circular_buffer", "depth": 19 * 1024, "width": 32}]}
    part = get_part("LFE5U-85F")
    est = estimate_layer(proj, part)
    assert est["bram_bits"] > 0 and est["dsp"] > 0
    rep = build_report(_manifest([buf, proj]), part)
    rows = {r["layer"]: r for r in rep["temporal_memory"]}
    assert rows["p"]["state_memory_bits"] == 1024 * 480 and rows["p"]["buffer_bits"] == 19 * 1024 * 32
    assert rows["b"]["buffer_bits"] == 19 * 1024 * 32 and rows["b"]["state_bits_source"].startswith("analysis")
    assert rows["b"]["state_bits"] == analysed_state_bits(20, 5, 4, False)
    assert temporal_memory(_manifest([buf, proj])) == rep["temporal_memory"]
    from pleiades_fpga.report.html import render_html

    page = render_html(rep)
    assert "Temporal memory" in page and "crossover K*" in page


def test_projection_window_from_export_metadata():
    from pleiades_fpga.ir.graph import IRGraph, Layer
    from pleiades_fpga.ir.kinds.projection import ProjectionParams, projection_window

    def params() -> ProjectionParams:
        return ProjectionParams(proj_A=np.eye(5, dtype=np.int64), proj_B=np.ones(5, np.int64), frac_bits=0, state_dim=5)

    layer = Layer("blocks.2.temporal.projection", "projection", ["x"], "s", params=params())
    graph = IRGraph("x", "s", {}, [layer], metadata={"pleiades.temporal_layers": [
        {"name": "blocks.1.temporal", "kernel_size": 10}, {"name": "blocks.2.temporal", "kernel_size": 20}]})
    assert projection_window(graph, layer) == 20
    layer.params.window = 7  # the IR field wins
    assert projection_window(graph, layer) == 7
    assert projection_window(IRGraph("x", "s", {}, [], metadata={}), Layer("p", "projection", ["x"], "s", params=params())) is None
