"""Build-directory integrity: every result records the design hash; a rebuild moves what no longer matches
aside; ``report`` never presents a verification of another design; failing commands leave results as they were.

verification.json files written here are test inputs for the stale logic, not evidence of anything.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.artifacts import design_hash
from pleiades_fpga.cli import main
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.report.flow import run_report
from pleiades_fpga.toolflow.toolrun import ToolError, run_tool
from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return small_qonnx(tmp_path_factory.mktemp("model") / "small.onnx")


def snapshot(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` (relative path -> digest)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def fake_verification(build: Path, stamped: bool = True, **fields) -> None:
    """A verification summary as `verify` writes it; stamped with the build's design hash or without any."""
    summary = {"simulator": "verilator", "frames": 32, "clips": 2, "frames_per_clip": 16, "values_compared": 640,
               "mismatches": 0, "mismatches_no_backpressure": 0, "mismatches_backpressure": 0, "bit_exact": True,
               "cycles_per_frame_measured": 4321.5, "cycles_per_frame_analytic": 770, "latency_cycles": 900.0,
               "stream_checks": {"ok": True, "violations": 0, "streams": 5}}
    summary.update(fields)
    if stamped:
        summary["design_hash"] = design_hash(build)
    (build / "verification.json").write_text(json.dumps(summary))
    (build / "verification.npz").write_bytes(b"arrays")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


# the small w4a4 net needs 10 multipliers unconstrained (packed lanes) and 7 at its slowest: a budget of 40 leaves
# it unconstrained, 8 makes another design
def test_rebuild_of_another_design_moves_results_aside(model, tmp_path, capsys):
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build)
    rc, out, _ = cli(capsys, "report", build, "--no-html")
    assert "verification (verilator, measured in simulation): bit-exact" in out
    first = design_hash(build)
    assert json.loads((build / "report.json").read_text())["design_hash"] == first
    # the scenario: the same directory rebuilt with another folding
    rc, _, err = cli(capsys, "build", build / "model.onnx", "--out", build, "--max-multipliers", 8)
    assert rc == 0 and design_hash(build) != first
    assert not (build / "verification.json").exists() and not (build / "report.json").exists()
    stale = sorted((build / "stale").iterdir())
    assert len(stale) == 1 and "moved results of another design" in err and "verification.json" in err
    assert {p.name for p in stale[0].iterdir()} == {"verification.json", "verification.npz", "report.json"}



def test_rebuild_moves_a_demo_summary_of_another_design_aside(model, tmp_path, capsys):
    """demo.json states bit-exactness and a frame rate: after a rebuild of another design it must not stay."""
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    (build / "demo.json").write_text(json.dumps({"design_hash": design_hash(build), "bit_exact": True, "seconds": {}}))
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0  # same design: kept
    assert (build / "demo.json").exists()
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 8)[0] == 0  # another design: aside
    assert not (build / "demo.json").exists()
    assert [p.name for p in next((build / "stale").iterdir()).iterdir()] == ["demo.json"]
    rc, out, _ = cli(capsys, "report", build)
    rep = json.loads((build / "report.json").read_text())
    assert rep["verified"] is False and rep["verification"] is None and "NOT VERIFIED" in out
    assert "NOT verified" in (build / "report.html").read_text()


def test_rebuild_of_the_same_design_keeps_results(model, tmp_path, capsys):
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build)
    cli(capsys, "report", build, "--no-html")
    before = snapshot(build)
    rc, _, err = cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)
    assert rc == 0 and "moved" not in err and not (build / "stale").exists()
    assert snapshot(build) == before
    assert json.loads((build / "report.json").read_text())["design_hash"] == design_hash(build)
    # a copy under another name, rebuilt with the same design from its own model.onnx, keeps them too
    copy = tmp_path / "copy"
    shutil.copytree(build, copy)
    rc, _, err = cli(capsys, "build", copy / "model.onnx", "--out", copy, "--max-multipliers", 40)
    assert rc == 0 and "moved" not in err and json.loads((copy / "manifest.json").read_text())["name"] == "copy"
    rc, out, _ = cli(capsys, "report", copy, "--no-html")
    assert "bit-exact" in out and json.loads((copy / "report.json").read_text())["verified"] is True


@pytest.mark.parametrize("stamp", ["none", "other"])
def test_report_refuses_a_verification_of_another_design(model, tmp_path, capsys, stamp):
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build, stamped=stamp == "other")
    if stamp == "other":       # a copied directory whose RTL was then edited by hand
        top = build / "rtl" / "pleiades_top.v"
        top.write_text(top.read_text() + "\n// edited\n")
    rc, out, _ = cli(capsys, "report", build)
    assert "NOT VERIFIED: verification.json belongs to another design (or predates hashes): run `pleiades-fpga " \
           f"verify {build}`" in out
    rep = json.loads((build / "report.json").read_text())
    assert rep["verified"] is False and rep["verification"]["status"] == "stale"
    assert "bit_exact" not in rep["verification"] and "cycles_per_frame_measured" not in rep["verification"]
    page = (build / "report.html").read_text()
    assert "NOT VERIFIED (stale)" in page and "4,321.50" not in page


def test_current_verification_is_a_table(model, tmp_path, capsys):
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build)
    cli(capsys, "report", build)
    page = (build / "report.html").read_text()
    assert "<td>values compared</td><td>640</td>" in page and "<td>cycles per frame</td><td>4,321.50</td><td>770</td>" in page
    assert "{'" not in page                                 # no raw dict
    assert "analytic estimate" in page and "estimate (fmax model" in page


@pytest.mark.parametrize("fields, verdict", [
    ({"stream_checks": {"ok": False, "violations": 3}}, "STREAM CHECK VIOLATIONS (3)"),
    ({"stream_checks": None}, "no stream checks recorded"),
    ({"bit_exact": False, "mismatches": 7}, "MISMATCHES"),
])
def test_report_does_not_call_a_failed_verification_verified(model, tmp_path, capsys, fields, verdict):
    """Bit-exact outputs are not enough: a stream-protocol violation (or no checks at all) is no verification."""
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build, **fields)
    _, out, _ = cli(capsys, "report", build)
    rep = json.loads((build / "report.json").read_text())
    assert rep["verified"] is False
    assert verdict in out and verdict in (build / "report.html").read_text()


def failing_builds(model: Path, tmp_path: Path) -> list[list]:
    bad_folding = tmp_path / "bad_folding.json"
    bad_folding.write_text(json.dumps({"layers": {"no_such_layer": {"pe": 1, "simd": 1}}}))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx\xff" * 10)
    return [["--folding", bad_folding], ["--max-multipliers", 1], ["--float-ckpt", tmp_path / "missing.pt"],
            ["MODEL", garbage], ["MODEL", tmp_path / "missing.onnx"], ["--clock-mhz", "nan"]]


def test_failing_build_leaves_the_directory_as_it_was(model, tmp_path, capsys):
    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    fake_verification(build)
    cli(capsys, "report", build)
    before = snapshot(build)
    for extra in failing_builds(model, tmp_path):
        src = extra[1] if extra[0] == "MODEL" else model
        opts = [] if extra[0] == "MODEL" else extra
        try:
            rc = main([str(a) for a in ["build", src, "--out", build, *opts]])
        except SystemExit as exc:          # rejected by the option parser
            rc = exc.code
        err = capsys.readouterr().err
        assert rc == 2, (extra, err)
        assert snapshot(build) == before, extra
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # no staging left


def test_failure_during_generation_leaves_the_directory_as_it_was(model, tmp_path, capsys, monkeypatch):
    import pleiades_fpga.hw.rtl.generate as gen

    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    before = snapshot(build)
    real = gen.generate

    def half_then_fail(graph, out_dir, *args, **kwargs):
        real(graph, out_dir, *args, **kwargs)       # writes rtl/ and manifest.json, then dies
        raise PleiadesError("simulated failure after writing")

    monkeypatch.setattr(gen, "generate", half_then_fail)
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 8)[0] == 2
    assert snapshot(build) == before


def test_hls4ml_failure_keeps_the_model_in_the_output_directory(model, tmp_path, monkeypatch):
    from pleiades_fpga.hw.backends import build
    from pleiades_fpga.hw.hls4ml_backend import project

    out = tmp_path / "hls"
    out.mkdir()
    shutil.copyfile(model, out / "model.onnx")
    before = snapshot(out)
    garbage = tmp_path / "user_model.onnx"
    garbage.write_bytes(b"garbage" * 20)
    with pytest.raises(PleiadesError, match=str(garbage)) as exc:
        build(garbage, out, backend="hls4ml")
    assert str(out / "model.onnx") not in str(exc.value)
    assert snapshot(out) == before

    def fail(*args, **kwargs):
        raise PleiadesError("simulated hls4ml conversion failure")

    monkeypatch.setattr(project, "_write_project", fail)
    other = small_qonnx(tmp_path / "other.onnx", seed=3)
    with pytest.raises(PleiadesError, match="simulated"):
        build(other, out, backend="hls4ml")
    assert snapshot(out) == before


def test_report_failures_leave_earlier_results(model, tmp_path, capsys, monkeypatch):
    import pleiades_fpga.report.flow as flow
    import pleiades_fpga.report.html as html_mod

    build = tmp_path / "b"
    assert cli(capsys, "build", model, "--out", build, "--max-multipliers", 40)[0] == 0
    run_report(build, "LFE5U-85F", progress=False)
    earlier = build / "synth" / "lfe5u-85f"
    earlier.mkdir(parents=True)
    (earlier / "stat.json").write_text("{}")
    before = snapshot(build)

    def page_fails(report):
        raise RuntimeError("simulated plotting failure")

    monkeypatch.setattr(html_mod, "render_html", page_fails)
    with pytest.raises(RuntimeError):
        run_report(build, "LFE5U-85F", progress=False)
    assert snapshot(build) == before
    monkeypatch.undo()

    def yosys_fails(rtl, top, part, out_dir, **kwargs):
        (Path(out_dir) / "yosys.log").write_text("ERROR: simulated\n")
        raise ToolError(f"yosys failed; log {out_dir}/yosys.log")

    monkeypatch.setattr(flow, "run_synth", yosys_fails)
    with pytest.raises(ToolError):
        run_report(build, "LFE5U-85F", synth=True, progress=False)
    after = snapshot(build)
    assert after.pop("synth/lfe5u-85f.partial/yosys.log")        # the failed run's log, kept for inspection
    assert after == before


def test_default_build_fits_the_default_report_part(tmp_path, capsys):
    """`build` without folding options, then `report` without options, on the default demo network."""
    import torch

    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant.export import export_model
    from pleiades_fpga.quant.network import build_quant_model, calibrate
    from pleiades_fpga.toolflow.parts import DEFAULT_PART, get_part
    from pleiades_fpga.report.report import build_report

    cfg = get_preset("default")
    torch.manual_seed(0)
    net = build_quant_model(cfg, "w8a8")
    calibrate(net, torch.poisson(torch.full((2, 2, 12, *cfg.input_size), 0.3)))
    net.eval()
    onnx = export_model(net, tmp_path / "default.onnx", frames=12)
    # without a budget the balanced folding needs more multipliers than the default part has
    unlimited = build_rtl(onnx, tmp_path / "unlimited")
    assert not build_report(unlimited, get_part(DEFAULT_PART))["fits"]
    rc, _, err = cli(capsys, "build", onnx, "--backend", "rtl", "--out", tmp_path / "x")
    assert rc == 0 and f"so that the design fits {DEFAULT_PART}" in err
    rc, out, err = cli(capsys, "report", tmp_path / "x")
    rep = json.loads((tmp_path / "x" / "report.json").read_text())
    assert rep["fits"] is True and rep["target"] == DEFAULT_PART and "DOES NOT FIT" not in out + err
    assert rc == (0 if rep["realtime"] else 1)


def test_design_hash_covers_manifest_rtl_and_model(tmp_path):
    build = tmp_path / "m"
    shutil.copytree(Path(__file__).parent / "data" / "mac_stream", build)
    manifest = json.loads((build / "manifest.json").read_text())
    h0 = design_hash(build)
    assert h0 is not None and len(h0) == 16
    (build / "manifest.json").write_text(json.dumps({**manifest, "name": "renamed"}, indent=4))
    assert design_hash(build) == h0                          # the directory's name and formatting are no part
    (build / "manifest.json").write_text(json.dumps({**manifest, "cycles_per_frame": 1}))
    assert design_hash(build) != h0
    (build / "manifest.json").write_text(json.dumps(manifest))
    rtl = build / manifest["rtl_files"][0]
    text = rtl.read_text()
    rtl.write_text(text + " ")
    assert design_hash(build) != h0
    rtl.write_text(text)
    assert design_hash(build) == h0
    (build / "model.onnx").write_bytes(b"model")
    assert design_hash(build) != h0
    (build / "manifest.json").unlink()
    assert design_hash(build) is None


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    """An atomically written result is as readable as a plainly written file (mkstemp alone would give 0600)."""
    from pleiades_fpga.artifacts import write_json_atomic, write_npz_atomic, write_text_atomic

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    want = plain.stat().st_mode & 0o777
    for path in (write_text_atomic(tmp_path / "a.txt", "x"), write_json_atomic(tmp_path / "a.json", {"a": 1}),
                 write_npz_atomic(tmp_path / "a.npz", a=np.zeros(2))):
        assert path.stat().st_mode & 0o777 == want, path


# --- SIGTERM: no orphaned tool or simulator processes -----------------------------------------------------

_RUN_TOOL_SCRIPT = """
import sys
from pleiades_fpga.toolflow.toolrun import run_tool
child = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)",
         sys.argv[1]]
try:
    run_tool(child, sys.argv[2], "dummy tool", progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_sigterm_stops_the_tool_child(tmp_path):
    """`kill`/`timeout` on a command running a tool (yosys, nextpnr) leaves no tool running: the child's process
    group is stopped as on Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    runner = subprocess.Popen([sys.executable, "-c", _RUN_TOOL_SCRIPT, str(pid_file), str(tmp_path / "tool.log")])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert _alive(child)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 130          # the KeyboardInterrupt path ran
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the tool's child process outlived the SIGTERM'd command"
    finally:
        if runner.poll() is None:
            runner.kill()
        if pid_file.is_file() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_sigterm_during_verify_takes_the_interrupt_path(model, tmp_path, monkeypatch):
    """verify_build turns SIGTERM into KeyboardInterrupt, whose cleanup stops the simulator processes."""
    import os
    import signal

    import pleiades_fpga.sim.verify as sv
    from pleiades_fpga.hw.build import build_rtl

    build_rtl(model, tmp_path / "b", max_multipliers=40)
    monkeypatch.setattr(sv, "build", lambda *a, **k: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="terminated by signal"):
        sv.verify_build(tmp_path / "b", frames=2)
    assert signal.getsignal(signal.SIGTERM) is before   # the handler is restored afterwards


def test_cancel_stops_a_tool_run_in_a_thread(tmp_path):
    """A tool run in a worker thread (nextpnr seeds run in parallel) is killed once its cancel event is set: Ctrl-C
    reaches only the main thread."""
    import sys
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    pid_file = tmp_path / "child.pid"
    child = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
             "time.sleep(300)", str(pid_file)]
    cancel = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_tool, child, tmp_path / "tool.log", "dummy tool", progress=False, cancel=cancel)
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(int(pid_file.read_text()))
        start = time.monotonic()
        cancel.set()
        with pytest.raises(ToolError, match="dummy tool: cancelled"):
            future.result(timeout=30)
        assert time.monotonic() - start < 10
    deadline = time.monotonic() + 10
    while _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid_file.read_text()))


_SEEDS_SCRIPT = """
import sys, threading
from pathlib import Path
import pleiades_fpga.toolflow.pnr as pnr
from pleiades_fpga.toolflow.toolrun import run_tool

def fake_nextpnr(netlist, lpf, part, out_dir, freq_mhz, seed, progress, timeout, router, cancel=None):
    child = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
             "time.sleep(300)", str(Path(sys.argv[1]) / f"seed{seed}.pid")]
    run_tool(child, Path(sys.argv[1]) / f"seed{seed}.log", f"seed {seed}", progress=False, cancel=cancel)

pnr.run_nextpnr = fake_nextpnr
try:
    pnr.run_nextpnr_seeds("n.json", "c.lpf", None, sys.argv[1], seeds=[1, 2], jobs=2, progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_sigterm_stops_every_seed_of_a_sweep(tmp_path):
    """`kill` on a command placing and routing several seeds in threads leaves no nextpnr running: SIGTERM becomes
    KeyboardInterrupt in the main thread, which cancels every seed's tool."""
    import os
    import signal
    import subprocess
    import sys
    import time

    runner = subprocess.Popen([sys.executable, "-c", _SEEDS_SCRIPT, str(tmp_path)])
    pids = [tmp_path / f"seed{s}.pid" for s in (1, 2)]
    try:
        deadline = time.monotonic() + 60
        while not all(p.is_file() and p.read_text() for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        children = [int(p.read_text()) for p in pids]
        assert all(_alive(c) for c in children)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 130
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(c) for c in children), "a seed's tool outlived the SIGTERM'd sweep"
    finally:
        if runner.poll() is None:
            runner.kill()
        for p in pids:
            if p.is_file() and p.read_text() and _alive(int(p.read_text())):
                os.kill(int(p.read_text()), signal.SIGKILL)
