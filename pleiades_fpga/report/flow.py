"""The report flow on a build directory: estimate, Yosys, nextpnr + ecppack (ECP5) or Vivado Tcl (Xilinx).

Tool results go to ``synth/<part>/`` and ``board/<board>/``. A tool run writes into ``<dir>.partial`` and
replaces ``<dir>`` only when it succeeds (stamped with the design hash, ``design_hash.json``), so a failed
or interrupted run leaves the earlier results as they were and its logs in ``<dir>.partial``.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from pleiades_fpga.artifacts import HASH_KEY, STAMP, design_hash, dir_is_current, publish_dir, stamp_dir, staging_dir
from pleiades_fpga.errors import DoesNotFitError, PleiadesError
from pleiades_fpga.toolflow.boards.ulx3s_litedram import write_ulx3s_litedram
from pleiades_fpga.toolflow.boards.vivado import write_vivado_project
from pleiades_fpga.toolflow.boards.wrapper import BOARDS, get_board, mmcm_divider, write_board
from pleiades_fpga.toolflow.parts import PARTS, check_fit, get_part
from pleiades_fpga.toolflow.pnr import PnrResult, load_pnr, run_ecppack, run_nextpnr_seeds
from pleiades_fpga.report.report import (accuracy_vs_latency, build_report, load_manifest,
                                         read_verification, write_report)
from pleiades_fpga.toolflow.synth import SynthResult, load_synth, run_synth


def board_for(part_name: str, target: str):
    """The board whose flow (wrapper, place and route / Vivado script) serves ``target`` (a board, or the part of
    one), or None for a bare part (synthesis only)."""
    try:
        return get_board(target)
    except PleiadesError:
        for board in BOARDS.values():
            if board.part == part_name:
                return board
    return None


def targets_help() -> str:
    """--help text: which targets are boards (board flow) and which are bare parts (synthesis only)."""
    boards = ", ".join(f"{b.name} ({b.part})" for b in BOARDS.values())
    parts = ", ".join(p.name for p in PARTS.values() if all(b.part != p.name for b in BOARDS.values()))
    return (f"boards, also named by their part (board wrapper; ECP5: place and route and a bitstream, Xilinx: a "
            f"Vivado script): {boards}; parts without a board (synthesis only): {parts}")


def _core(full: SynthResult, top: str) -> SynthResult:
    """The network module's own numbers from a synthesis of the board wrapper (or of the network)."""
    return dataclasses.replace(full, top=top, utilization=full.modules.get(top, full.utilization))


def _load_existing(build_dir: Path, manifest: dict, part, board):
    """(SynthResult of the network module, PnrResult or None) from an earlier run in build_dir/synth/<part>,
    refused unless it was stamped with the design now in build_dir."""
    out = build_dir / "synth" / part.name.lower()
    if not (out / "stat.json").exists():
        raise PleiadesError(f"--reuse: no synthesis results in {out}; run the report with --synth or --pnr first")
    if not dir_is_current(out, build_dir):
        raise PleiadesError(f"--reuse: the results in {out} belong to another design (or predate design hashes; "
                            f"{STAMP} records {HASH_KEY}); run the report with --synth or --pnr again")
    synth_result = _core(load_synth(out, manifest["top"], part), manifest["top"])
    pnr_result = None
    if (out / "nextpnr_report.json").exists():
        pnr_result = load_pnr(out, part)      # at the clock place and route was constrained to
        bit = build_dir / "board" / board.name / f"{board.top}.bit" if board is not None else None
        if bit is not None and bit.exists() and dir_is_current(bit.parent, build_dir):
            pnr_result.bitstream = str(bit)
    return synth_result, pnr_result


def check_report_request(part, board, pnr: bool, synth: bool, reuse: bool, clock_mhz: float | None,
                         pnr_seeds: int = 1) -> None:
    """Refuse option combinations that cannot work or would be ignored, before any tool runs."""
    if reuse and (synth or pnr or clock_mhz is not None):
        raise PleiadesError("--reuse reads earlier results; it cannot be combined with --synth, --pnr, --bitstream "
                            "or --clock-mhz (drop --reuse to run the tools again)")
    if pnr and part.family != "ecp5":
        raise PleiadesError(f"place and route runs for ECP5 parts only; {part.name} gets a Vivado script "
                            "(run report without --pnr/--bitstream)")
    if pnr and board is None:
        raise PleiadesError(f"no board wrapper for {part.name}; place and route needs one of: {', '.join(BOARDS)}")
    if clock_mhz is not None and not clock_mhz > 0:
        raise PleiadesError(f"--clock-mhz must be a positive number of MHz, got {clock_mhz}")
    if pnr_seeds < 1 or (pnr_seeds > 1 and not pnr):
        raise PleiadesError(f"--pnr-seeds {pnr_seeds}: give a count >= 1, and only with place and route (--pnr, "
                            "--bitstream or synth)")


def run_report(build_dir: Path | str, target: str, synth: bool = False, pnr: bool = False,
               bitstream: bool = False, clock_mhz: float | None = None, html: bool = True,
               progress: bool = True, strict_fit: bool = True, reuse: bool = False, baud: int = 115200,
               pnr_seeds: int = 1) -> dict:
    """Estimate (always), synthesize (``synth``), place and route (``pnr``, ECP5) and pack a bitstream
    (``bitstream``), then write report.json/report.html; return the report dictionary.

    ECP5 place and route runs on the board wrapper (UART bridge around the network), synthesized once
    with the hierarchy kept, so the network's own numbers come from its module. For Xilinx parts with
    ``synth`` the Vivado project script is also written to board/pynq-z2/. Raises DoesNotFitError (after writing the
    report) when the design does not fit and ``strict_fit``. ``reuse``: read the synthesis / place-and-route
    results already in build/NAME/synth/<part> (stamped with the current design hash) instead of running the
    tools. Without place and route, ``clock_mhz`` is the clock of the frame-rate figures. ``baud``: the board
    wrapper's UART bridge. ``pnr_seeds``: place and route with seeds 1..N (in parallel, one per core) and keep the
    highest fmax (every seed's fmax is in the report).
    """
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    part = get_part(target)
    rtl = [build_dir / f for f in manifest["rtl_files"]]
    top = manifest["top"]
    board = board_for(part.name, target)
    pnr = pnr or bitstream
    check_report_request(part, board, pnr, synth, reuse, clock_mhz, pnr_seeds)
    vivado = part.family == "xc7" and board is not None and synth
    if vivado:   # a clock outside the MMCM's range: say so before minutes of synthesis
        mmcm_divider(clock_mhz or float(manifest.get("clock_mhz_target") or 100.0))
    pnr_result: PnrResult | None = None
    synth_result: SynthResult | None = None
    synth_final = build_dir / "synth" / part.name.lower()

    def report_with(synth_r: SynthResult | None, pnr_r: PnrResult | None) -> dict:
        return build_report(manifest, part, synth_r, pnr_r, read_verification(build_dir),
                            accuracy_vs_latency(build_dir), clock_mhz=None if pnr_r is not None else clock_mhz)

    if reuse:
        synth_result, pnr_result = _load_existing(build_dir, manifest, part, board)
    elif pnr:
        # estimate first: a design that cannot fit is not worth hours of place and route
        pre = report_with(None, None)
        if not pre["fits"] and strict_fit:
            write_report(build_dir, pre, html=html)
            check_fit(pre["resources"], part)
        board_final = build_dir / "board" / board.name
        board_dir, synth_dir = staging_dir(board_final), staging_dir(synth_final)
        if board.name == "ulx3s-85f" and manifest.get("external_memory"):   # the SDRAM through LiteDRAM
            info = write_ulx3s_litedram(manifest, board_dir, clock_mhz=clock_mhz, baud=baud)
        else:
            info = write_board(board.name, manifest, board_dir, clock_mhz=clock_mhz, baud=baud)
        full = run_synth(rtl + [Path(f) for f in info["files"]], board.top, part, synth_dir, progress=progress,
                         instances_of=top)
        try:
            check_fit(full.utilization, part)
        except DoesNotFitError:
            publish_dir(synth_dir, synth_final, build_dir, top=board.top, pnr=False)
            write_report(build_dir, report_with(_core(load_synth(synth_final, board.top, part), top), None),
                         html=html)
            raise
        pnr_result = run_nextpnr_seeds(full.netlist, info["constraints"], part, synth_dir,
                                       freq_mhz=info["clock_mhz"], seeds=range(1, pnr_seeds + 1), progress=progress)
        bit_name = f"{board.top}.bit"
        if bitstream:
            run_ecppack(pnr_result.config, board_dir / bit_name, progress=progress)
        # both runs succeeded: replace the earlier results, then read them back from their final place
        publish_dir(synth_dir, synth_final, build_dir, top=board.top, pnr=True, clock_mhz=info["clock_mhz"])
        publish_dir(board_dir, board_final, build_dir, clock_mhz=info["clock_mhz"], bitstream=bitstream, baud=baud)
        synth_result = _core(load_synth(synth_final, board.top, part, full.seconds), top)
        pnr_result = load_pnr(synth_final, part, info["clock_mhz"], pnr_result.seconds)
        if bitstream:
            pnr_result.bitstream = str(board_final / bit_name)
            print(f"bitstream: {pnr_result.bitstream}", file=sys.stderr)
    elif synth:
        synth_dir = staging_dir(synth_final)
        seconds = run_synth(rtl, top, part, synth_dir, progress=progress).seconds
        publish_dir(synth_dir, synth_final, build_dir, top=top, pnr=False)
        synth_result = load_synth(synth_final, top, part, seconds)
    if vivado:
        tcl = write_vivado_project(manifest, build_dir, clock_mhz=clock_mhz)
        stamp_dir(tcl.parent, build_dir, clock_mhz=clock_mhz)
        print(f"Vivado script: {tcl}", file=sys.stderr)

    report = report_with(synth_result, pnr_result)
    write_report(build_dir, report, html=html)
    report[HASH_KEY] = design_hash(build_dir)
    if not report["fits"] and strict_fit:
        raise DoesNotFitError(report["does_not_fit"])
    return report
