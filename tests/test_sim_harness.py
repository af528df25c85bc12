"""The HDL verification harness: stream checks on every internal stream catch broken layers (naming layer and
frame), any frame count works, options are validated up front, results are reproducible and split over jobs."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from pleiades_fpga.artifacts import HASH_KEY, design_hash
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.generate import _ident
from pleiades_fpga.sim.axis import pack_frames, pack_pixel
from pleiades_fpga.sim.harness import design_streams, pause_threshold
from pleiades_fpga.sim.verify import verify_build

from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("harness")
    manifest = build_rtl(small_qonnx(tmp / "model.onnx"), tmp / "build")
    return tmp / "build", manifest


@pytest.fixture(scope="module")
def clean(design):
    build_dir, _ = design
    return verify_build(build_dir, frames=12, sim="verilator", pause=0.4, seed=1)


def _strict_json(path):
    def no_constant(name):
        raise AssertionError(f"{path} contains {name}")
    return json.loads(path.read_text(), parse_constant=no_constant)


def test_every_stream_is_checked_and_counted(design, clean):
    build_dir, manifest = design
    assert clean["passed"] and clean["bit_exact"], clean["stream_checks"]["messages"]
    checks = clean["stream_checks"]
    top = (build_dir / "rtl" / "pleiades_top.v").read_text()
    n_wires = len(re.findall(r"wire\s+\[\d+:0\]\s+\w+_tdata\s*[;=]", top))
    assert checks["streams"] == n_wires == len(design_streams(build_dir, manifest))
    layers = {l["name"] for l in manifest["layers"]}
    per = checks["per_stream"]
    assert {e["layer"] for e in per.values()} == layers | {"input"}
    # clip 0 twice (without and with pauses): every stream carried 2 x 12 frames of its beats
    for prefix, e in per.items():
        assert e["frames"] == 24 and e["beats"] == 24 * e["beats_per_frame"], (prefix, e)
    assert per["s_in"]["stall_cycles"] > 0  # the input waits for the first layer (it is slower than 1 pixel/cycle)
    saved = _strict_json(build_dir / "verification.json")
    assert saved[HASH_KEY] == design_hash(build_dir) and saved["stream_checks"]["ok"]


def _mutate_top(src, dst, prefix: str, kind: str):
    """Copy the build to ``dst`` with the stream ``prefix`` of the top broken: tdata changes while stalled, or tlast
    is never set."""
    shutil.copytree(src, dst)
    top_path = dst / "rtl" / "pleiades_top.v"
    top = top_path.read_text()
    width = int(re.search(rf"wire\s+\[(\d+):0\]\s+{prefix}_tdata\s*;", top).group(1)) + 1
    if kind == "tdata":
        port, new = f".m_axis_tdata({prefix}_tdata)", f".m_axis_tdata({prefix}_tdata_raw)"
        extra = (f"    wire [{width - 1}:0] {prefix}_tdata_raw;\n"
                 f"    assign {prefix}_tdata = {prefix}_tdata_raw ^ {{{width}{{{prefix}_tvalid && !{prefix}_tready}}}};\n")
    else:
        port, new = f".m_axis_tlast({prefix}_tlast)", ".m_axis_tlast()"
        extra = f"    assign {prefix}_tlast = 1'b0;\n"
    assert top.count(port) == 1, port
    top = top.replace(port, new).replace("endmodule", extra + "endmodule")
    top_path.write_text(top)


@pytest.mark.parametrize("kind", ["tdata", "tlast"])
def test_broken_layer_is_caught_with_layer_and_frame(design, clean, tmp_path, kind):
    """A mutated copy of the design (one layer's output: tdata changing under back-pressure, or a dropped tlast)
    fails verify; the first violation names that layer and the frame."""
    build_dir, manifest = design
    per = clean["stream_checks"]["per_stream"]
    # a layer output that really stalls in the clean run (so a tdata change under back-pressure can happen)
    prefix, entry = next((p, e) for p, e in per.items() if p.endswith("_out") and e["stall_cycles"] > 0)
    assert prefix == f"{_ident(entry['layer'])}_out"
    _mutate_top(build_dir, tmp_path / "b", prefix, kind)
    s = verify_build(tmp_path / "b", frames=4, sim="verilator", pause=0.4, seed=1)
    assert not s["passed"] and not s["stream_checks"]["ok"]
    first = s["stream_checks"]["first_violation"]
    assert first["layer"] == entry["layer"] and first["stream"] == prefix, first
    assert f"layer {entry['layer']}" in first["message"] and f"frame {first['frame']}" in first["message"]
    if kind == "tdata":
        assert "tdata changed while stalled" in first["message"] and s["bit_exact"]  # only the checks see it
    else:
        assert "tlast missing" in first["message"]
        assert first["frame"] == 0 and first["beat"] == entry["beats_per_frame"] - 1
    others = [p for p, e in s["stream_checks"]["per_stream"].items() if e["violations"] and p != prefix]
    assert kind == "tlast" or not others, others  # tdata: nothing else is blamed


@pytest.mark.parametrize("frames", [1, 2])
def test_any_frame_count_works_and_json_is_valid(design, tmp_path, frames):
    build_dir, _ = design
    s = verify_build(build_dir, frames=frames, sim="verilator", pause=0.3, seed=2)
    assert s["bit_exact"] and s["frames"] == frames
    saved = _strict_json(build_dir / "verification.json")
    assert saved["cycles_per_frame_measured"] is None  # needs 3 output frames
    assert saved["efficiency"] is None and saved["cycles_per_frame_ratio"] is None
    assert saved["latency_cycles"] is not None and saved["latency_cycles"] > 0


def test_jobs_split_clips_with_identical_results(design):
    build_dir, _ = design
    one = verify_build(build_dir, frames=9, clip_frames=3, sim="verilator", pause=0.3, seed=5, jobs=1)
    a = dict(np.load(build_dir / "verification.npz"))
    two = verify_build(build_dir, frames=9, clip_frames=3, sim="verilator", pause=0.3, seed=5, jobs=2)
    b = dict(np.load(build_dir / "verification.npz"))
    assert one["passed"] and two["passed"] and two["jobs"] == 2 and one["clips"] == two["clips"] == 3
    np.testing.assert_array_equal(a["rtl_outputs_backpressure"], b["rtl_outputs_backpressure"])
    np.testing.assert_array_equal(b["rtl_outputs_backpressure"], b["golden_outputs"])
    assert one["sim_cycles"] == two["sim_cycles"]  # same seeds, same pauses, cycle for cycle


@pytest.mark.parametrize("kwargs, what", [
    ({"pause": 2.0}, "--pause"), ({"pause": 1.0}, "--pause"), ({"pause": float("nan")}, "--pause"),
    ({"clip_frames": -1}, "--clip-frames"), ({"frames": 0}, "--frames"), ({"jobs": 0}, "--jobs"),
    ({"sim": "modelsim"}, "--sim"), ({"clip_frames": 10**6}, "--clip-frames"),
    ({"float_checkpoint": "no/such.pt"}, "--float-ckpt"),
])
def test_bad_options_are_refused_before_simulating(design, kwargs, what):
    build_dir, _ = design
    with pytest.raises(PleiadesError, match=re.escape(what)):
        verify_build(build_dir, **{"frames": 3, **kwargs})


def test_cli_refuses_bad_options(capsys):
    from pleiades_fpga.cli import main

    for argv in (["--pause", "2"], ["--clip-frames", "-1"], ["--frames", "0"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["verify", "build/none", *argv])
        assert exc.value.code == 2
        assert argv[0] in capsys.readouterr().err


def test_pack_frames_matches_pack_pixel():
    """The vectorized packing (frame files of the harness) equals packing pixel by pixel, in stream order."""
    rng = np.random.default_rng(0)
    f = rng.integers(-8, 8, size=(3, 2, 4, 5))  # (C, T, H, W), 4-bit signed
    want = [pack_pixel(f[:, t, y, x], 4, True) for t in range(2) for y in range(4) for x in range(5)]
    assert pack_frames(f, 4, True) == want
    wide = rng.integers(0, 255, size=(9, 1, 2, 2))  # 72-bit words: the Python-int path
    assert pack_frames(wide, 8) == [pack_pixel(wide[:, 0, y, x], 8) for y in range(2) for x in range(2)]
    with pytest.raises(PleiadesError):
        pack_frames(np.full((1, 1, 1, 1), 16), 4)


def test_pause_threshold():
    assert pause_threshold(0.0) == 0 and pause_threshold(0.5) == 32768 and pause_threshold(0.99999999) == 65535
    with pytest.raises(PleiadesError):
        pause_threshold(1.0)


def test_progress_bar_counts_output_frames_as_the_harness_writes_them(design, capsys):
    # the harness appends one line per output frame to its +progress_file (a 128x128 run takes minutes per clip):
    # the bar ends at every frame of both runs (clip 0 without and with pauses), not at 0
    build_dir, _ = design
    s = verify_build(build_dir, frames=5, sim="verilator", pause=0.3, seed=3, progress=True)
    assert s["passed"]
    err = capsys.readouterr().err
    assert re.search(r"verify \(verilator, 1 job\(s\)\): 100%\|[^|]*\| 10/10 ", err), err[-500:]
