"""External temporal buffers through the generator (issue #15): `build` plans the buffers, lowers the layers planned
external with temporal_conv_external, gives the top one AXI4 master port; `verify` runs the network on the HDL AXI
memory model (random latency and back-pressure); the report shows the traffic against the board memory.
Expected sizes are worked out from the layer shapes here (not read back from the planner)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json
from pleiades_fpga.hw.rtl.generate import rtl_sources
from pleiades_fpga.hw.rtl.lint import verilator_lint
from pleiades_fpga.hw.rtl.lowering import MAC_MODES
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.sim.verify import verify_build
from pleiades_fpga.toolflow.locate import have_simulator

from small_qonnx import CFG, small_qonnx


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """The small net (8x8, K = 10) built twice: all on chip, and with its first temporal layer forced external."""
    tmp = tmp_path_factory.mktemp("ext_gen")
    onnx_path = small_qonnx(tmp / "model.onnx")
    graph = read_qonnx(onnx_path)
    temporal = [l.name for l in graph.layers if l.kind == "conv" and l.params.temporal]
    cfg = folding_to_json(default_folding(graph))
    cfg["layers"][temporal[0]]["memory"] = "external"
    fold = tmp / "folding.json"
    fold.write_text(json.dumps(cfg))
    onchip = build_rtl(onnx_path, tmp / "onchip")
    ext = build_rtl(onnx_path, tmp / "ext", folding=fold)
    return {"tmp": tmp, "onnx": onnx_path, "graph": graph, "temporal": temporal, "onchip": onchip, "ext": ext,
            "cfg": cfg}


def test_default_build_keeps_everything_on_chip(nets):
    m = nets["onchip"]
    assert m["external_memory"] is None
    assert not m["memory_plan"]["auto"]
    assert {b["memory"] for b in m["memory_plan"]["buffers"]} == {"onchip"}
    assert sum(b["kind"] == "circular_buffer" for b in m["memory_plan"]["buffers"]) == len(nets["temporal"])
    assert "m_axi_" not in (nets["tmp"] / "onchip" / "rtl" / "pleiades_top.v").read_text()


def test_target_plans_and_small_net_fits_on_chip(nets, tmp_path):
    m = build_rtl(nets["onnx"], tmp_path / "b", part="LFE5U-85F")
    plan = m["memory_plan"]
    assert plan["auto"] and plan["part"] == "LFE5U-85F" and plan["fits"]
    assert m["external_memory"] is None and {b["memory"] for b in plan["buffers"]} == {"onchip"}


def test_forced_external_layer_in_manifest_and_top(nets):
    m, name = nets["ext"], nets["temporal"][0]
    entry = next(l for l in m["layers"] if l["name"] == name)
    assert entry["kind"] == "temporal_conv_external"
    assert entry["module"] == "temporal_history_axi+pointwise_mvu"
    # its lanes multiply in the fold's MAC mode (w4a4, 8-bit input counts: LUT multipliers), not silently in DSPs
    assert entry["mac"] == m["folding"]["layers"][name]["mac"] == "lut"
    assert entry["params"]["MAC_MODE"] == MAC_MODES.index("lut") and entry["multipliers"] == 0
    others = [l for l in m["layers"] if l["name"] in nets["temporal"][1:]]
    assert others and all(l["kind"] == "temporal_conv" for l in others)
    rows = {b["layer"]: b for b in m["memory_plan"]["buffers"]}
    assert (rows[name]["memory"], rows[name]["reason"]) == ("external", "override")
    assert all(rows[n]["memory"] == "onchip" for n in nets["temporal"][1:])
    assert nets["cfg"]["layers"][name]["memory"] == m["folding"]["layers"][name]["memory"] == "external"

    # address map by hand: pixel = C x b bits on a bus of the pixel rounded up to a power of two (>= 8 bits);
    # 64 pixels per frame in bursts of 16 (4 bursts per frame), K - 1 = 9 frame slots
    c, h, w = entry["in_shape"]
    data_w = max(8, _pow2(c * entry["in_bits"]))
    pix_bytes = data_w // 8
    ext = m["external_memory"]
    assert ext["data_bits"] == data_w and ext["addr_bits"] == 32 and ext["id_bits"] == 1 and ext["arbiter"] is None
    assert ext["base_addr_parameter"] == "EXT_BASE_ADDR" and ext["port"] == "m_axi"
    assert [x["layer"] for x in ext["masters"]] == [name]
    master = ext["masters"][0]
    assert master["offset"] == 0
    assert master["region_bytes"] == (CFG.kernel_size - 1) * h * w * pix_bytes
    assert ext["region_bytes"] == -(-master["region_bytes"] // 4096) * 4096     # regions end on 4 KB boundaries
    assert master["read_bytes_per_frame"] == (CFG.kernel_size - 1) * h * w * pix_bytes
    assert master["write_bytes_per_frame"] == h * w * pix_bytes
    # the shared port moves one beat per cycle: 9 history frames of 1-beat pixels read per frame bound the rate
    assert ext["read_beats_per_frame"] == (CFG.kernel_size - 1) * h * w and ext["write_beats_per_frame"] == h * w
    assert m["cycles_per_frame"] >= ext["read_beats_per_frame"]

    # the top's ports are the manifest's signal list, widths included
    top = (nets["tmp"] / "ext" / "rtl" / "pleiades_top.v").read_text()
    ports = {mm.group(3): (mm.group(1), int(mm.group(2) or 0) + 1)
             for mm in re.finditer(r"(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(m_axi_\w+|axi_error)", top)}
    assert len(ext["signals"]) == 29
    for sig in ext["signals"]:
        assert ports[sig["name"]] == (sig["direction"], sig["bits"]), sig
    assert "axi_error" in ports and re.search(r"parameter EXT_BASE_ADDR = 64'h0", top)
    lint = verilator_lint(m["top"], rtl_sources(nets["tmp"] / "ext"))
    assert lint.ok, "\n".join(lint.messages)


def test_memory_override_on_a_layer_without_history_is_refused(nets, tmp_path):
    cfg = json.loads(json.dumps(nets["cfg"]))
    spatial = next(l.name for l in nets["graph"].layers if l.kind == "conv" and not l.params.temporal)
    cfg["layers"][spatial]["memory"] = "external"
    path = tmp_path / "f.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(PleiadesError, match=f"layer {re.escape(spatial)}: memory 'external' needs a temporal buffer"):
        build_rtl(nets["onnx"], tmp_path / "b", folding=path)


@pytest.mark.parametrize("sim", ["icarus"])
def test_external_network_bit_exact_on_memory_model_same_as_onchip(nets, sim):
    """verify on the HDL memory model (random latency 16-128, back-pressure 0.3 on every memory channel, plus
    stream pauses): bit-exact, no AXI rule violation, no read of an unwritten word; the same clips give the same
    outputs as the on-chip design."""
    if not have_simulator(sim):
        pytest.skip(f"{sim} is not installed (apt-get install iverilog)")
    tmp = nets["tmp"]
    s_ext = verify_build(tmp / "ext", frames=12, clip_frames=12, sim=sim, pause=0.3, seed=5)
    s_on = verify_build(tmp / "onchip", frames=12, clip_frames=12, sim=sim, pause=0.3, seed=5)
    assert s_ext["bit_exact"] and s_ext["passed"], s_ext
    mem = s_ext["external_memory"]
    assert mem["ok"] and mem["errors"] == 0 and mem["unwritten_reads"] == 0 and mem["axi_error"] == 0
    h, w = nets["ext"]["input"]["height"], nets["ext"]["input"]["width"]
    # 2 runs (no pauses, pauses) of 12 frames: the history of frame t has min(t, 9) frames (reset: none)
    frames_read = 2 * sum(min(t, CFG.kernel_size - 1) for t in range(12))
    # + what is prefetched for the frame after the clip: at most the K-1 prefetch FIFOs (1 beat per pixel here)
    params = next(b for b in nets["ext"]["memory_plan"]["buffers"] if b["memory"] == "external")["params"]
    assert params["BPP"] == 1
    extra = mem["read_beats"] - frames_read * h * w
    assert 0 <= extra <= 2 * (CFG.kernel_size - 1) * params["FIFO_DEPTH"], mem
    assert mem["write_beats"] == 2 * 12 * h * w
    assert s_on["external_memory"] is None and s_on["bit_exact"]
    ext_npz, on_npz = np.load(tmp / "ext" / "verification.npz"), np.load(tmp / "onchip" / "verification.npz")
    np.testing.assert_array_equal(ext_npz["input_counts"], on_npz["input_counts"])
    np.testing.assert_array_equal(ext_npz["rtl_outputs_backpressure"], on_npz["rtl_outputs_backpressure"])
    assert len(np.unique(ext_npz["rtl_outputs_backpressure"])) > 10
    # the timing run (nominal latency, no back-pressure): same cycles per frame as on chip, within 5 %
    assert s_ext["cycles_per_frame_measured"] <= 1.05 * s_on["cycles_per_frame_measured"]


def test_report_external_memory_table(nets):
    from pleiades_fpga.report.html import render_html
    from pleiades_fpga.report.report import build_report
    from pleiades_fpga.toolflow.parts import get_part

    m = nets["ext"]
    master = m["external_memory"]["masters"][0]
    for part, usable in (("xc7z020", 1600.0), ("LFE5U-85F", 70.0)):
        r = build_report(m, get_part(part))
        ext = r["external_memory"]
        assert ext["usable_mb_s"] == usable
        (row,) = ext["layers"]
        per_frame = master["read_bytes_per_frame"] + master["write_bytes_per_frame"]
        assert (row["layer"], row["bytes_per_frame"]) == (master["layer"], per_frame)
        assert row["mb_s_required"] == pytest.approx(per_frame * r["required_fps"] / 1e6)
        assert row["mb_s_achieved"] == pytest.approx(per_frame * r["frames_per_second"] / 1e6)
        assert "estimated bandwidth" in r["verdict"]
        page = render_html(r)
        assert "<h2>External memory (estimated bandwidth)</h2><table>" in page and master["layer"] in page
    assert build_report(nets["onchip"], get_part("xc7z020"))["external_memory"] is None


def test_verdict_when_the_memory_is_too_slow():
    from pleiades_fpga.report.report import _with_memory

    rt = {"realtime": True, "verdict": "REAL-TIME: 500.0 frames/s", "required_fps": 100.0}
    # 1 MB per frame: 100 MB/s at the required 100 frames/s > 70 usable -> the memory sustains 70 frames/s
    ext = {"mb_s_required": 100.0, "mb_s_achieved": 500.0, "usable_mb_s": 70.0, "verdict": "too slow",
           "fps_memory": 70.0, "memory": {"board": "ulx3s-85f"}}
    ok, verdict = _with_memory(rt, ext)
    assert not ok and verdict.startswith("NOT REAL-TIME: the external memory is too slow") and "70.0 frames/s" in verdict
    ok, verdict = _with_memory(rt, {**ext, "mb_s_required": 10.0, "verdict": "memory-bound", "fps_memory": 140.0})
    assert ok and "memory-bound: 140.0 frames/s" in verdict


def test_build_warns_when_the_shared_port_sets_the_frame_rate(nets, tmp_path, capsys):
    """A port narrower than the external layer's pixel doubles its beats; `build` says the port, not a layer, sets
    cycles/frame and names the width that removes the bound (worked out here from the shapes)."""
    from pleiades_fpga.cli import main

    name = nets["temporal"][0]
    c, h, w = next(l for l in nets["ext"]["layers"] if l["name"] == name)["in_shape"]
    pixel_bits = max(8, _pow2(c * 8))
    fold = nets["tmp"] / "folding.json"
    native_reads = (CFG.kernel_size - 1) * h * w                  # one beat per pixel at the pixel's width
    assert main(["build", str(nets["onnx"]), "--out", str(tmp_path / "narrow"), "--folding", str(fold),
                 "--axi-data-bits", str(pixel_bits // 2)]) == 0
    err = capsys.readouterr().err
    m = json.loads((tmp_path / "narrow" / "manifest.json").read_text())
    assert m["external_memory"]["port_bound"] and m["cycles_per_frame"] == 2 * native_reads
    assert f"{2 * native_reads:,} beats/frame" in err
    assert f"--axi-data-bits {pixel_bits} (if the board's port takes it) brings the reads to {native_reads:,}" in err
    assert main(["build", str(nets["onnx"]), "--out", str(tmp_path / "native"), "--folding", str(fold)]) == 0
    assert "shared AXI port sets" not in capsys.readouterr().err
