"""axi_stream_fifo (a stream FIFO whose body is a ring of bursts in external memory): the words come out exactly as
they went in, frames of FRAME_PIX words with tlast regenerated, under random AXI pauses (cocotbext-axi AxiRam),
random latency and back-pressure (the HDL model sim/hdl/axi_ram_model.v, which also checks the 4 KB rule, the
burst size, the range and wlast and counts reads of never-written words) and random AXI-Stream pauses on both
sides. The memory keeps its contents (starting as garbage) across the resets between scenarios: reset = empty,
nothing stale comes out. The frame counts are chosen so that every scenario ends in a partial burst: without the flush at frame end
its last words never come out (timeout). Lint, Yosys and the parameter checks: tests/test_rtl_lint.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.external_fifo import fifo_layout, fifo_module
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import memory_model_top
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint
from pleiades_fpga.sim.runner import run_testbench

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_axi_stream_fifo")]

HDL_MODEL = Path(__file__).resolve().parents[1] / "pleiades_fpga" / "sim" / "hdl" / "axi_ram_model.v"
TB = "pleiades_fpga.sim.tb.tb_external_memory"

# word bits, words per frame, AXI bits, burst words, FIFO depth, ring slots, base address
CONFIGS = {
    # 4 beats per word, 3 bursts per frame (last one 2 words), a ring of one frame, across a 4 KB boundary
    "wide": dict(word_w=30, frame_pix=10, data_w=8, burst_pix=4, fifo_depth=8, ring_bursts=3, base_addr=0xFE0),
    # one beat per word, bursts of 4 + 3 words, a ring of 5 slots (frames wrap around it at odd places)
    "narrow": dict(word_w=12, frame_pix=7, data_w=16, burst_pix=4, fifo_depth=8, ring_bursts=5, base_addr=0),
    # one-word frames, one-word bursts, a ring of one slot: every word waits for its slot's read
    "tiny": dict(word_w=8, frame_pix=1, data_w=8, burst_pix=1, fifo_depth=2, ring_bursts=1, base_addr=0x100),
}


def layout(name: str):
    c = CONFIGS[name]
    return fifo_layout(capacity=c["frame_pix"], name=name, **c)


def scenarios(lay, seed: int, n_frames: int, specs: list[dict]) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i, spec in enumerate(specs):
        words = rng.integers(0, 2 ** lay.word_w, size=(n_frames, lay.frame_pix), dtype=np.int64)
        out.append({"frames": words.tolist(), "seed": seed + i, **spec})
    return out


def check_identity(runs: list[dict], scs: list[dict]) -> int:
    n = 0
    for i, (res, sc) in enumerate(zip(runs, scs, strict=True)):
        assert res["axi_error"] == 0, f"scenario {i}: an AXI response was not OKAY"
        assert len(res["out"]) == len(sc["frames"]), f"scenario {i}: {len(res['out'])} frames out"
        for t, (got, exp) in enumerate(zip(res["out"], sc["frames"], strict=True)):
            bad = [j for j, (g, e) in enumerate(zip(got, exp, strict=True)) if g != e]
            assert len(got) == len(exp) and not bad, (f"scenario {i} frame {t}: {len(bad)} words differ, first at "
                                                      f"{bad[:1]}; got {got} expected {exp}")
            n += 1
    return n


def run_axiram(sim: str, tmp_path: Path, cfg: str, seed: int, n_frames: int = 7) -> None:
    lay = layout(cfg)
    name = f"sfifo_{cfg}"
    top = tmp_path / f"{name}.v"
    top.write_text(fifo_module(name, lay))
    scs = scenarios(lay, seed, n_frames, [dict(in_pause=0.3, out_pause=0.3), dict(), dict(in_pause=0.0, out_pause=0.6)])
    run = run_testbench(name, [*template_sources("axi_stream_fifo"), top], TB, sim=sim,
                        vectors={"scenarios": scs, "mem_bytes": lay.region_end, "axi_pause": 0.3, "axi_seed": seed})
    assert check_identity(run.results["runs"], scs) == 3 * n_frames


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_axiram_verilator(tmp_path, cfg):
    run_axiram("verilator", tmp_path, cfg, 31)


def test_axiram_icarus(tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_axiram("icarus", tmp_path, "wide", 32)


SPECS = [dict(lat_min=5, lat_max=60, stall=0.3, in_pause=0.3, out_pause=0.3),
         dict(lat_min=0, lat_max=0, stall=0.0),
         dict(lat_min=20, lat_max=20, stall=0.5, in_pause=0.0, out_pause=0.5)]


def run_hdl_model(sim: str, tmp_path: Path, cfg: str, seed: int, n_frames: int) -> list[dict]:
    lay = layout(cfg)
    name = f"sfifo_{cfg}"
    top_name = f"{name}_mem"
    top = tmp_path / f"{name}.v"
    top.write_text(fifo_module(name, lay) + "\n" + memory_model_top(top_name, name, lay, lay.word_w, lay.word_w))
    scs = scenarios(lay, seed, n_frames, SPECS)
    run = run_testbench(top_name, [*template_sources("axi_stream_fifo"), HDL_MODEL, top], TB, sim=sim,
                        vectors={"scenarios": scs})
    runs = run.results["runs"]
    assert check_identity(runs, scs) == len(SPECS) * n_frames
    for i, r in enumerate(runs):
        assert r["errors"] == 0, f"scenario {i}: {r['errors']} AXI bursts broke a rule (4 KB, size, range, wlast)"
        assert r["unwritten_reads"] == 0, f"scenario {i}: a word was read from memory never written"
        assert r["write_beats"] == r["read_beats"] == n_frames * lay.frame_pix * lay.bpp, f"scenario {i}: {r}"
    return runs


@pytest.mark.parametrize("cfg", ["wide", "narrow"])
def test_hdl_model_verilator(tmp_path, cfg):
    run_hdl_model("verilator", tmp_path, cfg, 41, 11)


def test_hdl_model_icarus(tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_hdl_model("icarus", tmp_path, "tiny", 42, 11)


def test_steady_state_one_word_per_cycle(tmp_path):
    """At a nominal 40-cycle latency without stalls, the default layout (prefetch depth from the latency) streams
    a word per cycle: 256-word frames leave within 5 % of 256 cycles apart."""
    lay = fifo_layout(word_w=32, frame_pix=256, capacity=256, data_w=32, latency=40, name="sfifo_rate")
    top = tmp_path / "sfifo_rate.v"
    top.write_text(fifo_module("sfifo_rate", lay) + "\n" + memory_model_top("sfifo_rate_mem", "sfifo_rate", lay, 32, 32))
    scs = scenarios(lay, 43, 8, [dict(lat_min=40, lat_max=40, stall=0.0)])
    run = run_testbench("sfifo_rate_mem", [*template_sources("axi_stream_fifo"), HDL_MODEL, top], TB,
                        vectors={"scenarios": scs})
    check_identity(run.results["runs"], scs)
    ends = run.results["runs"][0]["out_end_cycle"]
    per_frame = (ends[-1] - ends[2]) / (len(ends) - 3)
    assert abs(per_frame - 256) <= 0.05 * 256, f"{per_frame} cycles per 256-word frame"


def test_wrapper_lints(tmp_path):
    lay = layout("wide")
    top = tmp_path / "sfifo_lint.v"
    top.write_text(fifo_module("sfifo_lint", lay))
    rep = verilator_lint("sfifo_lint", [*template_sources("axi_stream_fifo"), top])
    assert rep.ok, "\n".join(rep.messages)


def test_layout_checks():
    lay = fifo_layout(word_w=96, frame_pix=100, capacity=250, data_w=64, name="x")
    assert (lay.bpp, lay.pix_bytes) == (2, 16)
    assert lay.burst_pix == 16 and lay.n_bursts == 7          # 256-byte bursts, >= 4 per frame
    assert lay.ring_bursts == 4 * 7 and lay.capacity_words >= 250
    with pytest.raises(PleiadesError, match="multiple of the burst size"):
        fifo_layout(word_w=8, frame_pix=64, capacity=64, data_w=8, base_addr=3, name="x")
    with pytest.raises(PleiadesError, match="the FIFO ring 0x1000 .* does not fit a 12-bit address space"):
        fifo_layout(word_w=8, frame_pix=64, capacity=64, data_w=8, base_addr=4096, addr_w=12, name="x")
    with pytest.raises(PleiadesError, match="power of two of at least two bursts"):
        fifo_layout(word_w=8, frame_pix=64, capacity=64, data_w=8, burst_pix=8, fifo_depth=8, name="x")
