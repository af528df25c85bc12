"""``pleiades-fpga report build/NAME --target PART [--synth] [--pnr] [--bitstream]``: resources, latency, real time."""
from __future__ import annotations

import argparse

from pleiades_fpga.argtypes import int_range
from pleiades_fpga.commands.build import clock_mhz_arg
from pleiades_fpga.toolflow.parts import DEFAULT_PART, PARTS, part_arg


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    from pleiades_fpga.report.flow import targets_help

    names = ", ".join(p.name for p in PARTS.values())
    p = subparsers.add_parser(
        "report", help="resource / latency / memory report with a real-time verdict (report.json, report.html)",
        description=f"Write build/NAME/report.json and report.html. Parts: {names} (aliases ulx3s-85f, pynq-z2). "
                    "Without --synth the resources come from the analytic estimator.")
    p.add_argument("build_dir", help="build directory with manifest.json (from pleiades-fpga build)")
    p.add_argument("--target", type=part_arg, default=DEFAULT_PART,
                   help=f"FPGA part or board (default {DEFAULT_PART}); --pnr/--bitstream need a board. "
                        f"{targets_help()}")
    p.add_argument("--synth", action="store_true", help="run Yosys synthesis for LUT/FF/DSP/BRAM")
    p.add_argument("--pnr", action="store_true", help="also place and route with nextpnr-ecp5 (fmax); ECP5 only")
    p.add_argument("--bitstream", action="store_true", help="also pack a bitstream with ecppack (implies --pnr)")
    p.add_argument("--clock-mhz", type=clock_mhz_arg, default=None,
                   help="board clock (ECP5: PLL when not 25 MHz); without --pnr the clock of the frame-rate figures "
                        "(default: the clock the build was folded for)")
    p.add_argument("--reuse", action="store_true",
                   help="read the synthesis / place-and-route results already in build/NAME/synth/<part> instead of "
                        "running the tools again (e.g. after verify, or a newer estimator); only results stamped with "
                        "the current design's hash are used; the board clock is the one place and route ran at. "
                        "Not with --synth, --pnr, --bitstream or --clock-mhz")
    p.add_argument("--no-html", action="store_true", help="skip report.html")
    add_pnr_seeds_argument(p)
    p.set_defaults(func=run)


def add_pnr_seeds_argument(p: argparse.ArgumentParser) -> None:
    """``--pnr-seeds N`` (report and synth)."""
    p.add_argument("--pnr-seeds", type=int_range(1, 64), default=1, metavar="N",
                   help="place and route with nextpnr seeds 1..N, one per core at a time, and keep the highest fmax "
                        "(fmax varies a few %% with the placement seed; every seed's fmax is reported; default 1)")


def run(args: argparse.Namespace) -> int:
    """Run the report flow and print the verdict."""
    from pleiades_fpga.report.flow import run_report

    report = run_report(args.build_dir, args.target, synth=args.synth, pnr=args.pnr, bitstream=args.bitstream,
                        clock_mhz=args.clock_mhz, html=not args.no_html, reuse=args.reuse, pnr_seeds=args.pnr_seeds)
    for line in summary_lines(report):
        print(line)
    print(f"wrote {args.build_dir}/report.json" + ("" if args.no_html else " and report.html"))
    return 0 if report["realtime"] else 1


def summary_lines(report: dict) -> list[str]:
    """The report's summary on the terminal: resources, fmax and cycles with their sources, verification, verdict,
    advice."""
    r = report["resources"]
    lines = [f"{report['name']} on {report['target']} ({report['resources_source']}): LUT {r['lut']:,}  FF {r['ff']:,}  "
             f"DSP {r['dsp']:,}  BRAM {r['bram_bits']:,} bits"
             + (f"  URAM {r['uram_bits']:,} bits" if r.get("uram_bits") else ""),
             f"fmax {report['fmax_mhz']:.2f} MHz ({report['fmax_source']}), {report['cycles_per_frame']:,} cycles/frame "
             f"({report['cycles_source']}), latency {report['latency_cycles']:,} cycles = {report['latency_us']:,.1f} us "
             f"({report['latency_source']})"]
    est = report.get("fmax_estimate")
    if est is not None and report.get("fmax_kind") != "estimate":
        lines.append(f"fmax model estimate {est['fmax_mhz']:.2f} MHz ({est['source']})")
    lines += [verification_line(report.get("verification")), report["verdict"]]
    lines += [f"  - {line}" for line in report["advice"]]
    return lines


def verification_line(ver: dict | None) -> str:
    """One line on the verification the report used (or why it used none)."""
    if ver is None:
        return "NOT VERIFIED: no verification.json (run `pleiades-fpga verify BUILD`)"
    if ver.get("status") != "current":
        return f"NOT VERIFIED: {ver['message']}"
    return (f"verification ({ver.get('simulator')}, measured in simulation): {ver.get('verdict')}, "
            f"{ver.get('mismatches')} mismatches in {ver.get('values_compared')} values, {ver.get('frames')} frames")
