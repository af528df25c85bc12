"""GroupNorm frame buffers and skip FIFOs in external memory through the generator (issue #15): the small GroupNorm
network of tests/test_rtl_groupnorm_network.py (a DWS block whose two frame-statistics GroupNorms hold whole
frames while the skip waits in the fork's FIFO) built with every frame buffer and the skip FIFO forced external
(folding JSON "memory": "external" on the GroupNorm layers and on the add that joins the skip). `verify` runs it on
the HDL AXI memory model (random latency and back-pressure): bit-exact against the golden model, no AXI rule
violation, no read of a never-written word, the same outputs as its on-chip build on the same clips, and cycles per
frame within 5 % of it at the nominal latency. Expected sizes are worked out here from the shapes (not read back
from the planner)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.generate import rtl_sources
from pleiades_fpga.hw.rtl.lint import verilator_lint
from pleiades_fpga.quant import export_model
from pleiades_fpga.sim.verify import verify_build

from test_rtl_groupnorm_network import FRAMES, _model

pytestmark = pytest.mark.xdist_group("sim")


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ext_fifos")
    path = export_model(_model(), tmp / "model.onnx", frames=FRAMES)
    onchip = build_rtl(path, tmp / "onchip")
    cfg = json.loads((tmp / "onchip" / "folding.json").read_text())
    gn = [l["name"] for l in onchip["layers"] if l["kind"] == "groupnorm" and l["stats"] == "frame"]
    adds = [l["name"] for l in onchip["layers"] if l["kind"] == "add"]
    for name in gn + adds:
        cfg["layers"][name]["memory"] = "external"
    fold = tmp / "folding.json"
    fold.write_text(json.dumps(cfg))
    ext = build_rtl(path, tmp / "ext", folding=fold)
    return {"tmp": tmp, "onchip": onchip, "ext": ext, "gn": gn, "adds": adds}


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def test_plan_manifest_and_top(nets):
    m, gn = nets["ext"], nets["gn"]
    assert len(gn) >= 2 and len(nets["adds"]) == 1
    rows = {b["layer"]: b for b in m["memory_plan"]["buffers"]}
    forks = [l for l in m["layers"] if l["kind"] == "fork"]
    assert len(forks) == 1 and forks[0]["module"] == "axis_fork+axi_stream_fifo"
    skip = rows[forks[0]["name"]]
    assert (skip["kind"], skip["memory"], skip["reason"]) == ("skip_fifo", "external", "override")
    ext = m["external_memory"]
    assert ext["arbiter"] == "axi_arbiter" and len(ext["masters"]) == len(gn) + 1
    assert sorted(x["layer"] for x in ext["masters"]) == sorted(gn + [forks[0]["name"]])
    data_w = ext["data_bits"]
    for name in gn:
        entry = next(l for l in m["layers"] if l["name"] == name)
        assert entry["module"] == "groupnorm_stream+axi_stream_fifo" and entry["params"]["EXT_FRAME"] == 1
        assert "frame_buffer" not in {mem["kind"] for mem in entry["memories"]}
        c, h, w = entry["in_shape"]
        frame_bytes = h * w * _pow2(-(-c * entry["in_bits"] // data_w)) * data_w // 8
        assert rows[name]["read_bytes_per_frame"] == rows[name]["write_bytes_per_frame"] == frame_bytes
    c, h, w = forks[0]["in_shape"]
    assert skip["read_bytes_per_frame"] == skip["write_bytes_per_frame"] > 0
    # on chip, the same network keeps a frame buffer per GroupNorm and a block-RAM skip FIFO of >= 3 frames
    on_rows = {b["layer"]: b for b in nets["onchip"]["memory_plan"]["buffers"]}
    assert {on_rows[n]["kind"] for n in gn} == {"frame_buffer"} and on_rows[forks[0]["name"]]["kind"] == "skip_fifo"
    assert all(r["memory"] == "onchip" for r in on_rows.values())
    assert m["memory_plan"]["onchip_bits"] < nets["onchip"]["memory_plan"]["onchip_bits"]
    lint = verilator_lint(m["top"], rtl_sources(nets["tmp"] / "ext"))
    assert lint.ok, "\n".join(lint.messages)


@pytest.mark.parametrize("sim", ["icarus"])
def test_external_fifos_bit_exact_on_memory_model_same_as_onchip(nets, sim):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    tmp = nets["tmp"]
    s_ext = verify_build(tmp / "ext", frames=FRAMES, clip_frames=FRAMES, sim=sim, pause=0.3, seed=4)
    s_on = verify_build(tmp / "onchip", frames=FRAMES, clip_frames=FRAMES, sim=sim, pause=0.3, seed=4)
    assert s_ext["bit_exact"] and s_ext["passed"] and s_ext["mismatches"] == 0 and s_ext["values_compared"] > 0
    mem = s_ext["external_memory"]
    assert mem["ok"] and mem["errors"] == 0 and mem["unwritten_reads"] == 0 and mem["axi_error"] == 0, mem
    assert mem["read_beats"] > 0 and mem["write_beats"] > 0
    assert s_on["external_memory"] is None and s_on["bit_exact"]
    ext_npz, on_npz = np.load(tmp / "ext" / "verification.npz"), np.load(tmp / "onchip" / "verification.npz")
    np.testing.assert_array_equal(ext_npz["input_counts"], on_npz["input_counts"])
    np.testing.assert_array_equal(ext_npz["rtl_outputs_backpressure"], on_npz["rtl_outputs_backpressure"])
    np.testing.assert_array_equal(ext_npz["rtl_outputs"], on_npz["rtl_outputs"])
    assert len(np.unique(ext_npz["rtl_outputs_backpressure"])) > 10
    # the timing run (nominal latency, no back-pressure): cycles per frame within 5 % of the on-chip build
    assert s_ext["cycles_per_frame_measured"] <= 1.05 * s_on["cycles_per_frame_measured"], \
        (s_ext["cycles_per_frame_measured"], s_on["cycles_per_frame_measured"])
