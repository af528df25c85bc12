"""``pleiades-fpga synth build/NAME --target ulx3s-85f|pynq-z2``: board build (bitstream or Vivado script)."""
from __future__ import annotations

import argparse
import sys

from pleiades_fpga.argtypes import int_range
from pleiades_fpga.commands.build import clock_mhz_arg
from pleiades_fpga.commands.report import add_pnr_seeds_argument
from pleiades_fpga.toolflow.parts import part_arg


def register(subparsers) -> None:
    """Add the ``synth`` subcommand."""
    from pleiades_fpga.report.flow import targets_help

    p = subparsers.add_parser(
        "synth", help="board build: Yosys + nextpnr + ecppack bitstream (ULX3S 85F) or a Vivado script (PYNQ-Z2)",
        description="ECP5 boards: board wrapper (UART stream bridge, docs/BOARDS.md), synthesis, place and route "
                    "and a bitstream in build/NAME/board/<board>/; a build with external memory gets the ULX3S "
                    "SDRAM through LiteDRAM (its venv: python -m pleiades_fpga.toolflow.boards.litedram_core; "
                    "docs/EXTERNAL_MEMORY.md). Xilinx boards: Yosys utilization plus "
                    "build/NAME/board/pynq-z2/build_vivado.tcl for a machine with Vivado. Also writes the report.")
    p.add_argument("build_dir", help="build directory with manifest.json")
    p.add_argument("--target", type=part_arg, default="ulx3s-85f",
                   help=f"board (default ulx3s-85f). {targets_help()}; an ECP5 part without a board is refused "
                        "(use `report --synth` for it)")
    p.add_argument("--clock-mhz", type=clock_mhz_arg, default=None, help="network clock (ECP5: PLL when not 25 MHz)")
    p.add_argument("--baud", type=int_range(300, 3_000_000), default=115200,
                   help="UART bridge baud rate (default 115200; the ULX3S's FT231X carries up to 3,000,000)")
    p.add_argument("--program", nargs="?", const="sram", choices=("sram", "flash"), default=None,
                   help="then load the bitstream into the ULX3S on USB with openFPGALoader: sram (default, until "
                        "power-off) or flash (SPI flash, loads at power-up)")
    add_pnr_seeds_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the board flow; exit code 0 when a bitstream (ECP5) or a Vivado script (Xilinx) was written."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.report.flow import BOARDS, board_for, run_report
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.boards.host import check_baud
    from pleiades_fpga.toolflow.boards.program import program_board, program_command
    from pleiades_fpga.toolflow.parts import get_part

    part = get_part(args.target)
    ecp5 = part.family == "ecp5"
    board = board_for(part.name, args.target)
    if ecp5 and board is None:
        raise PleiadesError(f"synth is the board build and {part.name} has no board here (boards: "
                            f"{', '.join(BOARDS)}); use `pleiades-fpga report {args.build_dir} --target {args.target} "
                            "--synth` for a synthesis of the part")
    check_baud(args.baud, args.clock_mhz or (board.osc_mhz if board is not None and ecp5 else None))
    cell = load_manifest(args.build_dir).get("multiplier_cell", "inferred")
    if ecp5 and cell != "ecp5":   # the RTL is fixed at build time (simulated as synthesized)
        print(f"note: {args.build_dir} was built without an ECP5 part (multiplier_cell {cell!r}): its multipliers' "
              f"registers stay in the fabric (lower fmax); `pleiades-fpga build ... --target {args.target}` gives "
              "MULT18X18D cells with their registers", file=sys.stderr)
    if args.program:   # tool and board support checked before minutes of synthesis
        program_command("top.bit", board.name if board is not None else args.target, flash=args.program == "flash")
    report = run_report(args.build_dir, args.target, synth=True, pnr=ecp5, bitstream=ecp5,
                        clock_mhz=args.clock_mhz, baud=args.baud, pnr_seeds=args.pnr_seeds)
    print(f"{report['verdict']}  [at {report['fmax_mhz']:.2f} MHz: {report['fmax_source']}]")
    if ecp5:
        print(f"bitstream: {report['pnr']['bitstream']}  (fmax {report['fmax_mhz']:.2f} MHz, UART {args.baud} baud)")
    if args.program:
        print(program_board(report["pnr"]["bitstream"], board.name, flash=args.program == "flash"))
        print(f"programmed the {board.name} ({args.program}); stream frames with `pleiades-fpga host "
              f"{args.build_dir} --port PORT --baud {args.baud} --frames FILE`")
    return 0
