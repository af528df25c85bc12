"""``pleiades-fpga synth build/NAME --target ulx3s-85f|pynq-z2``: board build (bitstream or Vivado script)."""
from __future__ import annotations

import argparse

from pleiades_fpga.commands.build import clock_mhz_arg
from pleiades_fpga.toolflow.parts import part_arg


def register(subparsers) -> None:
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser(
        "synth", help="board build: Yosys + nextpnr + ecppack bitstream (ULX3S 85F) or a Vivado script (PYNQ-Z2)",
        description="ECP5 boards: board wrapper (UART stream bridge, docs/BOARDS.md), synthesis, place and route "
                    "and a bitstream in build/NAME/board/<board>/. Xilinx boards: Yosys utilization plus "
                    "build/NAME/board/pynq-z2/build_vivado.tcl for a machine with Vivado. Also writes the report.")
    p.add_argument("build_dir", help="build directory with manifest.json")
    p.add_argument("--target", type=part_arg, default="ulx3s-85f", help="board or part: ulx3s-85f (default), pynq-z2")
    p.add_argument("--clock-mhz", type=clock_mhz_arg, default=None, help="network clock (ECP5: PLL when not 25 MHz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the board flow; exit code 0 when a bitstream (ECP5) or a Vivado script (Xilinx) was written."""
    from pleiades_fpga.report.flow import run_report
    from pleiades_fpga.toolflow.parts import get_part

    ecp5 = get_part(args.target).family == "ecp5"
    report = run_report(args.build_dir, args.target, synth=True, pnr=ecp5, bitstream=ecp5,
                        clock_mhz=args.clock_mhz)
    print(report["verdict"])
    if ecp5:
        print(f"bitstream: {report['pnr']['bitstream']}  (fmax {report['fmax_mhz']:.2f} MHz)")
    return 0
