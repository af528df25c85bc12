"""axi_arbiter (templates/axi_arbiter.v): M_COUNT = 1, 2, 3 cocotbext-axi AxiMasters with random pauses through the
arbiter onto one AxiRam with random pauses, random concurrent transfers of every master, data compared byte by
byte, handshakes checked every cycle (sim/tb/tb_axi_arbiter.py), on Verilator and Icarus; and two external
temporal layers (temporal_history_axi + pointwise_mvu) sharing one AxiRam through it, bit-exact."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.axi_arbiter import arbiter_instance, axi_width, master_id_width
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import AXI_SIGNALS, axi_connections
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint
from pleiades_fpga.hw.rtl.rom import files_text
from pleiades_fpga.hw.rtl.verilog import Port, clock_reset, instance, module, stream_connections, stream_ports, wire
from pleiades_fpga.sim.axis import pack_frame
from pleiades_fpga.sim.runner import run_testbench

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_axi_arbiter")]

WRITERS = 2   # concurrent write-and-read-back tasks per master (plus one reader)


def axi_ports(prefix: str, *, master: bool, id_w: int, addr_w: int, data_w: int) -> list[Port]:
    """Ports of one AXI4 bundle ``<prefix>_<sig>``: ``master`` = the module drives the master's signals."""
    return [Port(f"{prefix}_{sig}", "output" if out == master else "input",
                 axi_width(key, id_w=id_w, addr_w=addr_w, data_w=data_w)) for sig, key, out in AXI_SIGNALS]


def arbiter_top(name: str, m_count: int, *, addr_w: int, data_w: int, s_id_w: int) -> str:
    """A top with one AXI4 slave port ``s<i>_axi`` per master and the arbiter's port ``m_axi``."""
    ports = clock_reset()
    for i in range(m_count):
        ports += axi_ports(f"s{i}_axi", master=False, id_w=s_id_w, addr_w=addr_w, data_w=data_w)
    ports += axi_ports("m_axi", master=True, id_w=master_id_width(m_count, s_id_w), addr_w=addr_w, data_w=data_w)
    body = [arbiter_instance("u_arbiter", [f"s{i}_axi" for i in range(m_count)], "m_axi", addr_w=addr_w,
                             data_w=data_w, s_id_w=s_id_w)]
    return module(name, ports, body, comment=f"{name}: {m_count} AXI4 ports through axi_arbiter (test top).")


def run_arbiter(sim: str, tmp_path: Path, m_count: int, *, data_w: int = 32, s_id_w: int = 2, ops: int = 12,
                pause: float = 0.3, seed: int = 1) -> dict:
    name = f"arb_top_{m_count}_{data_w}_{s_id_w}"
    top = tmp_path / f"{name}.v"
    top.write_text(arbiter_top(name, m_count, addr_w=16, data_w=data_w, s_id_w=s_id_w))
    run = run_testbench(name, [*template_sources("axi_arbiter"), top], "pleiades_fpga.sim.tb.tb_axi_arbiter",
                        sim=sim, testcase="axi_arbiter_random", vectors={"m_count": m_count, "region": 8192, "ops": ops, "max_len": 700,
                                          "writers": WRITERS, "pause": pause, "seed": seed,
                                          "timeout_cycles": 200_000})
    res = run.results
    assert not res["timed_out"], f"the transfers did not finish in time (deadlock): {res}"
    assert res["violations"] == 0, f"a valid was dropped or its payload changed under back-pressure: {res}"
    assert res["aw_unfair"] == res["ar_unfair"] == 0, f"grants were not round robin: {res}"
    for i, r in enumerate(res["masters"]):
        expected = (2 * WRITERS + 1) * ops           # each writer writes and reads back, one reader
        assert r["transfers"] == expected, f"master {i}: {r['transfers']} transfers, expected {expected}"
        assert r["mismatched_bytes"] == 0, f"master {i}: {r['mismatched_bytes']} of {r['bytes']} bytes differ"
    return res


@pytest.mark.parametrize("m_count", [1, 2, 3])
def test_arbiter_random_bursts_verilator(tmp_path, m_count):
    run_arbiter("verilator", tmp_path, m_count, ops=8, seed=m_count)


@pytest.mark.parametrize("m_count", [2, 3])
def test_arbiter_random_bursts_icarus(tmp_path, m_count):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_arbiter("icarus", tmp_path, m_count, data_w=64, s_id_w=1, ops=8, seed=10 + m_count)


def test_arbiter_full_throughput_without_pauses(tmp_path):
    """Without pauses the registered channels still move data (no deadlock, no lost beat) for 3 masters."""
    res = run_arbiter("verilator", tmp_path, 3, ops=6, pause=0.0, seed=5)
    assert res["cycles"] > 0


def test_arbiter_top_lint_clean(tmp_path):
    top = tmp_path / "arb_lint.v"
    top.write_text(arbiter_top("arb_lint", 3, addr_w=32, data_w=64, s_id_w=1))
    rep = verilator_lint("arb_lint", [*template_sources("axi_arbiter"), top])
    assert rep.ok, "\n".join(rep.messages)


def test_master_id_width():
    assert [master_id_width(m, 1) for m in (1, 2, 3, 4, 5, 8, 9)] == [1, 2, 3, 3, 4, 4, 5]
    assert master_id_width(3, 4) == 6
    with pytest.raises(PleiadesError, match="at least one master"):
        master_id_width(0, 1)
    with pytest.raises(PleiadesError, match="at least one AXI master"):
        arbiter_instance("u", [], "m_axi", addr_w=32, data_w=32, s_id_w=1)


def layers_top(name: str, layers: list[tuple[str, object, int, int]], *, id_w: int) -> str:
    """A top with external layers ``(module, layout, in width, out width)``: streams ``s<i>_axis``/``m<i>_axis``, their
    masters through the arbiter onto ``m_axi``, ``axi_error`` = any layer's."""
    lay0 = layers[0][1]
    ports = clock_reset()
    body: list[str] = []
    for i, (module_name, lay, in_w, out_w) in enumerate(layers):
        ports += stream_ports(f"s{i}_axis", in_w, slave=True) + stream_ports(f"m{i}_axis", out_w, slave=False)
        body += [wire(f"l{i}_axi_{sig}", lay.width(key)) for sig, key, _ in AXI_SIGNALS] + [wire(f"l{i}_error")]
        body.append(instance(module_name, f"u_l{i}", {"clk": "clk", "rst": "rst",
                                                     **stream_connections("s_axis", f"s{i}_axis"),
                                                     **stream_connections("m_axis", f"m{i}_axis"),
                                                     **axi_connections("m_axi", f"l{i}_axi"),
                                                     "axi_error": f"l{i}_error"}))
    ports += axi_ports("m_axi", master=True, id_w=master_id_width(len(layers), id_w), addr_w=lay0.addr_w,
                       data_w=lay0.data_w) + [Port("axi_error", "output")]
    body.append("    assign axi_error = " + " | ".join(f"l{i}_error" for i in range(len(layers))) + ";")
    body.append(arbiter_instance("u_arbiter", [f"l{i}_axi" for i in range(len(layers))], "m_axi",
                                 addr_w=lay0.addr_w, data_w=lay0.data_w, s_id_w=id_w))
    return module(name, ports, body, comment=f"{name}: {len(layers)} external temporal layers on one AXI port (test).")


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_two_external_layers_share_one_port_bit_exact(tmp_path, sim):
    """Two temporal_history_axi layers (dense K=3 and depthwise K=4, disjoint regions) through the arbiter onto one
    AxiRam with random pauses on every channel and stream back-pressure: every output integer equals the numpy
    causal temporal conv, over two scenarios separated by a reset (memory kept, history must read zero)."""
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    from test_rtl_external_memory import CONFIGS, check, clips, make_layer

    cfgs = [dict(CONFIGS["dense"], base=0x0), dict(CONFIGS["depthwise"], base=0x1000)]
    layers, files, refs, outs = [], [], [], []
    for i, cfg in enumerate(cfgs):
        f, ref, hist, out = make_layer(cfg, 40 + i, f"arbl{i}")
        files += f
        refs.append(ref)
        outs.append(out)
        layers.append((f"arbl{i}", hist, cfg["c_in"] * cfg["in_w"], cfg["c_out"] * out[0]))
    assert len({lay.data_w for _, lay, _, _ in layers}) == 1 and layers[0][1].region_end <= layers[1][1].base_addr
    top = tmp_path / "arb_layers.v"
    top.write_text(files_text(files) + "\n" + layers_top("arb_layers", layers, id_w=layers[0][1].id_w))
    sources = [*template_sources("axi_arbiter"), *template_sources("temporal_history_axi"),
               *template_sources("pointwise_mvu"), top]
    n_frames, pauses = 6, [0.3, 0.0]
    cl = [clips(cfg, 50 + i, len(pauses), n_frames) for i, cfg in enumerate(cfgs)]
    scenarios = [{"frames": {f"s{i}_axis": [pack_frame(f, cfg["in_w"], cfg["in_signed"]) for f in cl[i][s]]
                             for i, cfg in enumerate(cfgs)},
                  "n_out": {f"m{i}_axis": n_frames for i in range(len(cfgs))}, "seed": 60 + s, "in_pause": p,
                  "out_pause": p} for s, p in enumerate(pauses)]
    run = run_testbench("arb_layers", list(dict.fromkeys(sources)), "pleiades_fpga.sim.tb.tb_axi_arbiter", sim=sim,
                        testcase="layers_through_arbiter",
                        vectors={"layers": len(cfgs), "scenarios": scenarios, "mem_bytes": layers[1][1].region_end,
                                 "axi_pause": 0.3, "axi_seed": 7})
    for i in range(len(cfgs)):
        per_layer = [{"out": r["out"][f"m{i}_axis"], "axi_error": r["axi_error"]} for r in run.results["runs"]]
        assert check(per_layer, [refs[i](c) for c in cl[i]], outs[i]) == len(pauses) * n_frames
