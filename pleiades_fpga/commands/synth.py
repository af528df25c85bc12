"""``pleiades-fpga synth build/NAME --target ulx3s-85f|pynq-z2``: board build (bitstream or Vivado script)."""
from __future__ import annotations

import argparse

from pleiades_fpga.commands.build import clock_mhz_arg
from pleiades_fpga.toolflow.parts import part_arg


def register(subparsers) -> None:
    """Add the ``synth`` subcommand."""
    from pleiades_fpga.report.flow import targets_help

    p = subparsers.add_parser(
        "synth", help="board build: Yosys + nextpnr + ecppack bitstream (ULX3S 85F) or a Vivado script (PYNQ-Z2)",
        description="ECP5 boards: board wrapper (UART stream bridge, docs/BOARDS.md), synthesis, place and route "
                    "and a bitstream in build/NAME/board/<board>/. Xilinx boards: Yosys utilization plus "
                    "build/NAME/board/pynq-z2/build_vivado.tcl for a machine with Vivado. Also writes the report.")
    p.add_argument("build_dir", help="build directory with manifest.json")
    p.add_argument("--target", type=part_arg, default="ulx3s-85f",
                   help=f"board (default ulx3s-85f). {targets_help()}; an ECP5 part without a board is refused "
                        "(use `report --synth` for it)")
    p.add_argument("--clock-mhz", type=clock_mhz_arg, default=None, help="network clock (ECP5: PLL when not 25 MHz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the board flow; exit code 0 when a bitstream (ECP5) or a Vivado script (Xilinx) was written."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.report.flow import BOARDS, board_for, run_report
    from pleiades_fpga.toolflow.parts import get_part

    part = get_part(args.target)
    ecp5 = part.family == "ecp5"
    if ecp5 and board_for(part.name, args.target) is None:
        raise PleiadesError(f"synth is the board build and {part.name} has no board here (boards: "
                            f"{', '.join(BOARDS)}); use `pleiades-fpga report {args.build_dir} --target {args.target} "
                            "--synth` for a synthesis of the part")
    report = run_report(args.build_dir, args.target, synth=True, pnr=ecp5, bitstream=ecp5,
                        clock_mhz=args.clock_mhz)
    print(f"{report['verdict']}  [at {report['fmax_mhz']:.2f} MHz: {report['fmax_source']}]")
    if ecp5:
        print(f"bitstream: {report['pnr']['bitstream']}  (fmax {report['fmax_mhz']:.2f} MHz)")
    return 0
