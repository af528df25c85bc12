"""fmax model (issue 16): the estimate of :mod:`pleiades_fpga.report.fmax_model` vs nextpnr per net.

Calibration, one command, against the templates of the current checkout (about 20-60 min on 2 busy cores):

    .venv/bin/python -m bench.fmax_model --calibrate

builds every calibration net of ``NETS`` into ``build/fmax/<net>/`` (``pleiades-fpga build``), places and routes
it on the ULX3S 85F board wrapper (the report flow: Yosys, nextpnr-ecp5 at the flow's default board clock) unless
that directory already holds place-and-route results stamped with its current design, and writes the measured
fmax, the manifest features, the commit and the date of every net to the shipped calibration file
(``pleiades_fpga/report/fmax_calibration.json``, :func:`pleiades_fpga.report.fmax_model.write_calibration`). Then,
as without ``--calibrate`` (``python -m bench.run_all fmax_model``), it reports leave-one-out: each net's estimate
from a model fitted on the other nets only, against its measured fmax -> bench/results/fmax_model.json.
Bar: within 25 % on three nets.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "fmax"
BOARD = "ulx3s-85f"
BAR = 0.25


@dataclass(frozen=True)
class Net:
    """A calibration net: the trained demo model, or a preset with calibrated random weights."""

    name: str
    preset: str | None        # None: the demo model build/demo/model.onnx (``make demo``)
    spec: str = "w8a8"
    size: int | None = None   # input height = width (None: the preset's)
    kernel: int | None = None

    def describe(self) -> str:
        if self.preset is None:
            return "trained demo model (build/demo/model.onnx, default preset 32x32, w8a8)"
        size = f"{self.size}x{self.size}" if self.size else "preset size"
        k = f", K={self.kernel}" if self.kernel else ""
        return f"preset {self.preset} {size}{k}, {self.spec}, calibrated random weights"


NETS = (   # smallest first: the quick runs are done before the long ones
    Net("tiny_w4a4_8", "tiny", "w4a4", 8, kernel=10),
    Net("tiny_w8a8_16", "tiny", "w8a8", 16),
    Net("default_w4a4", "default", "w4a4"),
    Net("demo", None),
)


def qonnx_of(net: Net, out: Path) -> Path:
    """The QONNX file of ``net`` (written to ``out/<net>.onnx`` for the random-weight nets)."""
    if net.preset is None:
        demo = ROOT / "build" / "demo" / "model.onnx"
        if not demo.is_file():
            raise SystemExit(f"{demo} is missing: run `make demo` first")
        return demo
    path = out / f"{net.name}.onnx"
    if path.is_file():
        return path
    import torch

    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant import build_quant_model, calibrate, export_model

    changes = {}
    if net.size:
        changes["input_size"] = [net.size, net.size]
    if net.kernel:
        changes["kernel_size"] = net.kernel
    cfg = get_preset(net.preset, **changes)
    torch.manual_seed(0)
    model = build_quant_model(cfg, net.spec)
    h, w = cfg.input_size
    calibrate(model, torch.poisson(torch.full((4, 2, 3 * cfg.kernel_size, h, w), 0.4)), batch_size=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_model(model.eval(), path, frames=16)


def git_commit() -> str:
    """The commit of the templates the calibration ran on (``+dirty`` when the templates differ from it)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "pleiades_fpga/hw/rtl/templates",
                            "pleiades_fpga/toolflow/boards"], cwd=ROOT, capture_output=True, text=True).stdout
    return head.strip() + ("+dirty" if dirty.strip() else "")


def measure(net: Net) -> dict:
    """Build ``net`` (when its design changed) and place and route it (unless current results exist); the
    calibration entry: measured fmax, board clock, features, commit, date."""
    from pleiades_fpga.artifacts import design_hash, dir_is_current
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.report.flow import run_report
    from pleiades_fpga.report.fmax_model import calibration_entry
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.parts import get_part

    build = OUT / net.name
    onnx = qonnx_of(net, OUT / "onnx")
    build_rtl(onnx, build)       # unchanged design: same hash, earlier results stay current
    part = get_part(BOARD)
    synth_dir = build / "synth" / part.name.lower()
    reuse = (synth_dir / "nextpnr_report.json").is_file() and dir_is_current(synth_dir, build)
    start = time.time()
    print(f"{net.name}: {'reusing' if reuse else 'placing and routing'} {build}", flush=True)
    report = run_report(build, BOARD, pnr=not reuse, reuse=reuse, html=False, strict_fit=False)
    if not report.get("pnr"):
        raise SystemExit(f"{net.name}: no place-and-route result in {build}")
    return calibration_entry(net.name, net.describe(), load_manifest(build), report["pnr"],
                             commit=git_commit() if not reuse else None, design=design_hash(build),
                             seconds=None if reuse else round(time.time() - start, 1))


def calibrate_all() -> Path:
    """Measure every net and write the shipped calibration file; return its path."""
    from pleiades_fpga.report.fmax_model import load_calibration, write_calibration

    old = {e["net"]: e for e in load_calibration("ecp5").get("nets", [])}
    entries = []
    for net in NETS:
        entry = measure(net)
        prev = old.get(net.name)
        if entry["commit"] is None:   # reused results: keep the commit and date of the run that produced them
            if prev is None or prev.get("design_hash") != entry["design_hash"]:
                raise SystemExit(f"{net.name}: reused results of an unrecorded run; delete "
                                 f"{OUT / net.name / 'synth'} and calibrate again")
            entry = {**entry, "commit": prev["commit"], "date": prev["date"], "pnr_seconds": prev.get("pnr_seconds")}
        entries.append(entry)
    return write_calibration("ecp5", entries)


def main(argv: list[str] | None = None) -> dict:
    from pleiades_fpga.report.fmax_model import leave_one_out, load_calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="build, place and route the nets, rewrite the calibration")
    args = ap.parse_args([] if argv is None and Path(sys.argv[0]).stem == "run_all" else argv)
    if args.calibrate:
        print(f"wrote {calibrate_all()}")
    cal = load_calibration("ecp5")
    rows = leave_one_out(cal)
    within = [r for r in rows if abs(r["error"]) <= BAR]
    result = {
        "family": "ecp5", "board": BOARD, "calibration_file": "pleiades_fpga/report/fmax_calibration.json",
        "method": "leave-one-out: each net's estimate comes from the model fitted on the other nets only",
        "model": cal.get("model"),
        "nets": rows,
        "max_abs_error": max((abs(r["error"]) for r in rows), default=None),
        "bar": {"within_25pct": len(within), "needed": 3, "met": len(within) >= 3},
    }
    write_result("fmax_model", result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
