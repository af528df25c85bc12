"""The report flow on a build directory: estimate, Yosys, nextpnr + ecppack (ECP5) or Vivado Tcl (Xilinx)."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from pleiades_fpga.errors import DoesNotFitError, PleiadesError
from pleiades_fpga.hw.boards.vivado import write_vivado_project
from pleiades_fpga.hw.boards.wrapper import BOARDS, get_board, write_board
from pleiades_fpga.report.parts import check_fit, get_part
from pleiades_fpga.report.pnr import PnrResult, load_pnr, run_ecppack, run_nextpnr
from pleiades_fpga.report.report import (accuracy_vs_latency, build_report, load_manifest,
                                         read_verification, write_report)
from pleiades_fpga.report.synth import SynthResult, load_synth, run_synth


def _board_for(part_name: str, target: str):
    try:
        return get_board(target)
    except PleiadesError:
        for board in BOARDS.values():
            if board.part == part_name:
                return board
    return None


def _load_existing(build_dir: Path, manifest: dict, part, board):
    """(SynthResult of the network module, PnrResult or None) from an earlier run in build_dir/synth/<part>."""
    out = build_dir / "synth" / part.name.lower()
    stat = out / "stat.json"
    if not stat.exists():
        raise PleiadesError(f"--reuse: no synthesis results in {out}; run the report with --synth or --pnr first")
    if stat.stat().st_mtime < (build_dir / "manifest.json").stat().st_mtime:
        raise PleiadesError(f"--reuse: {stat} is older than {build_dir / 'manifest.json'} (the RTL was regenerated); "
                            "run the report with --synth or --pnr again")
    top = manifest["top"]
    full = load_synth(out, top, part)
    synth_result = dataclasses.replace(full, utilization=full.modules.get(top, full.utilization))
    pnr_result = None
    if (out / "nextpnr_report.json").exists():
        pnr_result = load_pnr(out, part)      # at the clock place and route was constrained to
        bit = build_dir / "board" / board.name / f"{board.top}.bit" if board is not None else None
        if bit is not None and bit.exists():
            pnr_result.bitstream = str(bit)
    return synth_result, pnr_result


def run_report(build_dir: Path | str, target: str, synth: bool = False, pnr: bool = False,
               bitstream: bool = False, clock_mhz: float | None = None, html: bool = True,
               progress: bool = True, strict_fit: bool = True, reuse: bool = False) -> dict:
    """Estimate (always), synthesize (``synth``), place and route (``pnr``, ECP5) and pack a bitstream
    (``bitstream``), then write report.json/report.html; return the report dictionary.

    ECP5 place and route runs on the board wrapper (UART bridge around the network), synthesized once
    with the hierarchy kept, so the network's own numbers come from its module. For Xilinx parts with
    ``synth`` the Vivado project script is also written to board/pynq-z2/. Raises DoesNotFitError (after writing the
    report) when the design does not fit and ``strict_fit``. ``reuse``: read the synthesis / place-and-route
    results already in build/NAME/synth/<part> (newer than manifest.json) instead of running the tools.
    """
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    part = get_part(target)
    rtl = [build_dir / f for f in manifest["rtl_files"]]
    top = manifest["top"]
    board = _board_for(part.name, target)
    pnr_result: PnrResult | None = None
    synth_result: SynthResult | None = None
    pnr = pnr or bitstream
    if pnr and part.family != "ecp5":
        raise PleiadesError(f"place and route runs for ECP5 parts only; {part.name} gets a Vivado script "
                            "(run report without --pnr/--bitstream)")
    if pnr and board is None:
        raise PleiadesError(f"no board wrapper for {part.name}; place and route needs one of: {', '.join(BOARDS)}")

    if reuse:
        synth_result, pnr_result = _load_existing(build_dir, manifest, part, board)
    elif pnr:
        # estimate first: a design that cannot fit is not worth hours of place and route
        pre = build_report(manifest, part)
        if not pre["fits"] and strict_fit:
            write_report(build_dir, pre, html=html)
            check_fit(pre["resources"], part)
        board_dir = build_dir / "board" / board.name
        info = write_board(board.name, manifest, board_dir, clock_mhz=clock_mhz)
        full = run_synth(rtl + [Path(f) for f in info["files"]], board.top, part,
                         build_dir / "synth" / part.name.lower(), progress=progress, instances_of=top)
        core = full.modules.get(top, full.utilization)
        synth_result = dataclasses.replace(full, top=top, utilization=core)
        try:
            check_fit(full.utilization, part)
        except DoesNotFitError:
            write_report(build_dir, build_report(manifest, part, synth_result, None, read_verification(build_dir),
                                                 accuracy_vs_latency(build_dir)), html=html)
            raise
        pnr_result = run_nextpnr(full.netlist, info["constraints"], part, build_dir / "synth" / part.name.lower(),
                                 freq_mhz=info["clock_mhz"], progress=progress)
        if bitstream:
            bit = run_ecppack(pnr_result.config, board_dir / f"{board.top}.bit", progress=progress)
            pnr_result.bitstream = str(bit)
            print(f"bitstream: {bit}", file=sys.stderr)
    elif synth:
        synth_result = run_synth(rtl, top, part, build_dir / "synth" / part.name.lower(), progress=progress)
    if part.family == "xc7" and board is not None and synth:
        tcl = write_vivado_project(manifest, build_dir, clock_mhz=clock_mhz)
        print(f"Vivado script: {tcl}", file=sys.stderr)

    report = build_report(manifest, part, synth_result, pnr_result, read_verification(build_dir),
                          accuracy_vs_latency(build_dir))
    write_report(build_dir, report, html=html)
    if not report["fits"] and strict_fit:
        raise DoesNotFitError(report["does_not_fit"])
    return report
