"""fmax model (issue 16): the estimate of :mod:`pleiades_fpga.report.fmax_model` vs nextpnr per net.

Calibration, one command, against the templates of the current checkout (about 20-60 min on 2 busy cores):

    .venv/bin/python -m bench.fmax_model --calibrate

builds every calibration net of ``NETS`` into ``build/fmax/<net>/`` (``pleiades-fpga build``), places and routes
it on the ULX3S 85F board wrapper (the report flow: Yosys, nextpnr-ecp5 with the wrapper's PLL at ``CLOCK_MHZ``, as
bench board_ulx3s) unless that directory already holds place-and-route results stamped with its current design and
that clock, and writes the measured
fmax, the template stages, the commit and the date of every net to the shipped calibration file
(``pleiades_fpga/report/fmax_calibration.json``, :func:`pleiades_fpga.report.fmax_model.write_calibration`). Then,
as without ``--calibrate`` (``python -m bench.run_all fmax_model``), it reports leave-one-out: each net's estimate
from a model fitted on the other nets only, against its measured fmax -> bench/results/fmax_model.json.
Bar: within 25 % on three nets. ``--nets a,b`` re-measures only those nets; ``--from-build demo=build/ulx3s`` takes a
net's place and route from another build of it (e.g. bench board_ulx3s's, if made from the same templates).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "fmax"
BOARD = "ulx3s-85f"
CLOCK_MHZ = 100.0   # the constraint nextpnr places to (as bench board_ulx3s): a loose one (the board's 25 MHz) lets the
                    # placer put a multiplier far from its registers (tiny_w8a8_16: 70 MHz at 25 vs 94 MHz at 100)
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
    Net("tiny_w4a4_32", "tiny", "w4a4", 32),
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
    """Build ``net`` from the current checkout and place and route it, unless place-and-route results stamped with
    the same design are there already (then the templates were the same: the entry takes the current commit and
    the date of those results); the calibration entry."""
    from pleiades_fpga.artifacts import STAMP, design_hash, dir_is_current
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.report.flow import run_report
    from pleiades_fpga.report.fmax_model import calibration_entry
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.parts import get_part

    build = OUT / net.name
    build_rtl(qonnx_of(net, OUT / "onnx"), build)   # unchanged design: same hash, earlier results stay current
    synth_dir = build / "synth" / get_part(BOARD).name.lower()
    stamp = synth_dir / STAMP
    reuse = ((synth_dir / "nextpnr_report.json").is_file() and dir_is_current(synth_dir, build)
             and json.loads(stamp.read_text()).get("clock_mhz") == CLOCK_MHZ)
    start = time.time()
    print(f"{net.name}: {'reusing' if reuse else 'placing and routing'} {build}", flush=True)
    report = run_report(build, BOARD, pnr=not reuse, reuse=reuse, html=False, strict_fit=False,
                        clock_mhz=None if reuse else CLOCK_MHZ)
    if not report.get("pnr"):
        raise SystemExit(f"{net.name}: no place-and-route result in {build}")
    entry = calibration_entry(net.name, net.describe(), load_manifest(build), report["pnr"], commit=git_commit(),
                              design=design_hash(build), seconds=None if reuse else round(time.time() - start, 1))
    if reuse:
        entry["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((synth_dir / STAMP).stat().st_mtime))
        entry["pnr_seconds"] = report["pnr"].get("seconds") or None
    return entry


def templates_differing(build: Path) -> list[str]:
    """The RTL files of ``build`` whose template in the current checkout differs (empty: built from these
    templates)."""
    from pleiades_fpga.report.report import load_manifest

    templates = ROOT / "pleiades_fpga" / "hw" / "rtl" / "templates"
    return [f for f in load_manifest(build)["rtl_files"] if (templates / Path(f).name).is_file()
            and (templates / Path(f).name).read_bytes() != (build / f).read_bytes()]


def measured_elsewhere(net: Net, build: Path) -> dict:
    """The calibration entry of ``net`` from place-and-route results in another build directory of it (e.g. the
    board bench's build of the demo net): refused unless they are stamped with that build's design and every
    template it uses is the current checkout's."""
    from pleiades_fpga.artifacts import STAMP, design_hash, dir_is_current
    from pleiades_fpga.report.fmax_model import calibration_entry
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.toolflow.pnr import load_pnr

    part = get_part(BOARD)
    manifest = load_manifest(build)
    synth_dir = build / "synth" / part.name.lower()
    if not (synth_dir / "nextpnr_report.json").is_file() or not dir_is_current(synth_dir, build):
        raise SystemExit(f"{build}: no place-and-route results of its current design in {synth_dir}")
    other = templates_differing(build)
    if other:
        raise SystemExit(f"{build} was built from other templates ({', '.join(other[:3])} differ): rebuild it")
    pnr = load_pnr(synth_dir, part).to_dict()
    entry = calibration_entry(net.name, f"{net.describe()}; placed and routed in {build.relative_to(ROOT) if build.is_relative_to(ROOT) else build}", manifest,
                              pnr, commit=git_commit(), design=design_hash(build), seconds=None)
    entry["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((synth_dir / STAMP).stat().st_mtime))
    return entry


def calibrate(names: list[str] | None = None, elsewhere: dict[str, Path] | None = None) -> Path:
    """Measure the nets (all, or those named; the others keep their entries) and rewrite the shipped calibration
    after each one, so an interrupted run keeps what it measured; return its path."""
    from pleiades_fpga.report.fmax_model import load_calibration, write_calibration

    known = {n.name: n for n in NETS}
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise SystemExit(f"unknown net(s) {', '.join(unknown)}; nets: {', '.join(known)}")
    entries = {e["net"]: e for e in load_calibration("ecp5").get("nets", []) if e.get("net") in known}
    path = None
    for net in NETS:
        if names and net.name not in names:
            continue
        entries[net.name] = (measured_elsewhere(net, elsewhere[net.name]) if net.name in (elsewhere or {})
                             else measure(net))
        path = write_calibration("ecp5", [entries[n.name] for n in NETS if n.name in entries])
    return path


def main(argv: list[str] | None = None) -> dict:
    from pleiades_fpga.report.fmax_model import leave_one_out, load_calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="build, place and route the nets, rewrite the calibration")
    ap.add_argument("--nets", default=None, help=f"with --calibrate: only these nets (comma-separated; "
                                                   f"{', '.join(n.name for n in NETS)})")
    ap.add_argument("--from-build", action="append", default=[], metavar="NET=DIR",
                    help="with --calibrate: take NET's place and route from the build directory DIR (stamped results, "
                         "the current templates), e.g. demo=build/ulx3s from bench board_ulx3s")
    args = ap.parse_args([] if argv is None else argv)     # bench.run_all calls main() without options
    if args.calibrate:
        elsewhere = {k: (ROOT / v).resolve() for k, v in (a.split("=", 1) for a in args.from_build)}
        print(f"wrote {calibrate(args.nets.split(',') if args.nets else None, elsewhere)}")
    cal = load_calibration("ecp5")
    rows = leave_one_out(cal)
    within = [r for r in rows if abs(r["error"]) <= BAR]
    result = {
        "family": "ecp5", "board": BOARD, "calibration_file": "pleiades_fpga/report/fmax_calibration.json",
        "method": "leave-one-out: each net's estimate comes from the model fitted on the other nets only",
        "model": cal.get("model"), "routing_ns_per_hop_all_nets": cal.get("routing_ns_per_hop"),
        "template_commits": sorted({str(n.get("commit")) for n in cal.get("nets", [])}),
        "nets": rows,
        "max_abs_error": max((abs(r["error"]) for r in rows), default=None),
        "bar": {"within_25pct": len(within), "needed": 3, "met": len(within) >= 3},
    }
    write_result("fmax_model", result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
