"""report.html: the verification table (measured vs analytic), the measured latency as the headline, the model's
accuracy-vs-latency plot from the training metrics, and the clock every frame rate is at."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pleiades_fpga.artifacts import design_hash
from pleiades_fpga.report.flow import run_report

DATA = Path(__file__).parent / "data" / "mac_stream"
STEPS = [0.1, 0.25, 0.5, 0.75, 0.875]        # accuracy at frames 1..5 after the clip start


@pytest.fixture()
def build(tmp_path):
    b = tmp_path / "b"
    shutil.copytree(DATA, b)
    return b


def _verification(build: Path, **fields) -> None:
    """Test input: a verification summary as `verify` writes it, stamped with this build's design hash."""
    summary = {"simulator": "verilator", "frames": 32, "clips": 2, "frames_per_clip": 16, "values_compared": 640,
               "mismatches": 0, "mismatches_no_backpressure": 0, "mismatches_backpressure": 0, "bit_exact": True,
               "pause": 0.3, "seed": 7, "runs": ["clip 0 without pauses (timing)", "every clip with pauses"],
               "cycles_per_frame_measured": 260.0, "cycles_per_frame_analytic": 256, "latency_cycles": 1234.0,
               "latency_cycles_max": 1240.0,
               "stream_checks": {"ok": True, "violations": 0, "streams": 3, "runs": 3, "first_violation": None},
               "design_hash": design_hash(build)}
    summary.update(fields)
    (build / "verification.json").write_text(json.dumps(summary))


def _cells(page: str) -> dict[str, list[str]]:
    """First cell -> the other cells of every table row of the page."""
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", page):
        cells = re.findall(r"<td>(.*?)</td>", tr)
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_verification_table_measured_vs_analytic(build):
    _verification(build)
    manifest = json.loads((build / "manifest.json").read_text())
    rep = run_report(build, "ulx3s-85f", progress=False)
    page = (build / "report.html").read_text()
    rows = _cells(page)
    assert rows["values compared"] == ["640", ""]
    assert rows["mismatches (total)"] == ["0", "0"]
    assert rows["frames (clips x frames per clip)"][0] == "32 (2 x 16)"
    assert rows["back-pressure"][0].startswith("pause probability 0.30") and "seed 7" in rows["back-pressure"][0]
    assert rows["stream-check violations"] == ["0 (3 streams, 3 runs)", "0"]
    assert rows["cycles per frame"] == ["260.00", "256"]
    assert rows["latency (cycles, median / max)"] == ["1,234.00 / 1,240.00", f"{manifest['latency_cycles']:,}"]
    assert "{'" not in page and "{&#x27;" not in page                       # no raw dict anywhere
    # the measured figures are the headline ones, the analytic ones labelled as such
    assert rep["latency_cycles"] == 1234 and rep["cycles_per_frame"] == 260
    assert rep["latency_source"].startswith("measured in simulation")
    assert f"analytic (manifest) {manifest['latency_cycles']:,}" in rep["latency_source"]
    assert "latency 1,234 cycles" in page


def test_violations_and_mismatches_show(build):
    _verification(build, bit_exact=False, mismatches=5, mismatches_backpressure=5,
                  stream_checks={"ok": False, "violations": 2, "streams": 3, "runs": 3,
                                 "first_violation": "s_in clip 1 frame 0: tvalid dropped"})
    run_report(build, "ulx3s-85f", progress=False)
    rows = _cells((build / "report.html").read_text())
    assert rows["mismatches (total)"] == ["5", "0"]
    assert rows["mismatches without / with back-pressure"][0] == "0 / 5"
    assert rows["stream-check violations"][0].startswith("2 (3 streams, 3 runs); first: s_in clip 1 frame 0")
    assert rows["result"][0] == "MISMATCHES"


def test_accuracy_vs_latency_from_training_metrics(build):
    # the shape `pleiades-fpga train` writes (make demo copies the QAT run's metrics.json into the build)
    (build / "metrics.json").write_text(json.dumps({"filtered_accuracy": 0.9, "history": [], "test": {
        "bin_us": 10000, "n_clips": 40, "per_step_accuracy": STEPS}}))
    rep = run_report(build, "ulx3s-85f", progress=False)
    pts = rep["accuracy_vs_latency"]
    assert [p["latency_frames"] for p in pts] == [1, 2, 3, 4, 5]
    assert [p["latency_ms"] for p in pts] == [10, 20, 30, 40, 50]
    assert [p["accuracy"] for p in pts] == STEPS
    page = (build / "report.html").read_text()
    assert "<h3>Accuracy vs latency</h3><img src='data:image/png;base64," in page
    assert "test evaluation of the trained model (40 clips)" in page
    assert "the dashed line adds the design's latency" in page


def test_no_accuracy_plot_without_metrics(build):
    rep = run_report(build, "ulx3s-85f", progress=False)
    assert rep["accuracy_vs_latency"] is None
    assert "Accuracy vs latency" not in (build / "report.html").read_text()


def test_frame_rate_clock_is_labelled(build):
    rep = run_report(build, "ulx3s-85f", progress=False)
    page = (build / "report.html").read_text()
    assert rep["frames_per_second"] == pytest.approx(rep["fmax_mhz"] * 1e6 / rep["cycles_per_frame"])
    if rep["fmax_estimate"] is not None:       # a calibrated family: the estimate, labelled
        assert rep["fmax_kind"] == "estimate" and rep["fmax_mhz"] == rep["fmax_estimate"]["fmax_mhz"]
        label = ("estimate, extrapolated: outside the calibrated nets" if rep["fmax_estimate"]["extrapolated"]
                 else "estimate")
        assert f"at {rep['fmax_mhz']:,.1f} MHz ({label})" in rep["verdict"]
        assert "target clock" not in page
    xc7 = run_report(build, "xc7z020", progress=False)
    assert xc7["fmax_estimate"] is None and xc7["fmax_kind"] == "assumed, not achieved"
    assert "(assumed, not achieved)" in xc7["verdict"]
    assert any("assumed, not achieved" in a for a in xc7["advice"])
