"""``pleiades-fpga build model.onnx --backend rtl --out build/NAME``: QONNX -> streaming hardware design."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pleiades_fpga.argtypes import float_range, int_range, positive_int
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.parts import DEFAULT_PART, part_arg

#: clocks the flow accepts (MHz): above zero, at most what any supported FPGA fabric can run
clock_mhz_arg = float_range(0.0, 1000.0, lo_open=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    from pleiades_fpga.report.flow import targets_help

    p = subparsers.add_parser(
        "build", help="generate a hardware design from a QONNX model",
        description="Turn a QONNX model (from `pleiades-fpga export`) into a streaming dataflow design: one module "
                    "per layer connected by AXI-Stream, a top module and manifest.json (layers, widths, folding, "
                    "memories, cycles).")
    p.add_argument("model", type=Path, help="QONNX file")
    p.add_argument("--backend", default="rtl", choices=["rtl", "hls4ml", "finn"],
                   help="rtl (own streaming Verilog, default), hls4ml (Vitis HLS project, bit-exact C simulation) or "
                        "finn (FINN+ for the per-frame layers, our RTL for the temporal ones; estimates and a "
                        "comparison, see docs/FINN.md; needs `make finn-env`)")
    p.add_argument("--out", type=Path, required=True, help="build directory")
    p.add_argument("--folding", type=Path, help="folding config JSON {'layers': {name: {'pe': P, 'simd': S}}}")
    p.add_argument("--target-fps", type=float_range(1e-3, 1e6),
                   help="fold for this frame rate at --clock-mhz (fewer multipliers); needs --clock-mhz")
    p.add_argument("--clock-mhz", type=clock_mhz_arg, help="clock the design is meant to run at, in MHz (default 100)")
    p.add_argument("--max-multipliers", type=positive_int,
                   help="fold so that the design uses at most this many multipliers")
    p.add_argument("--target", type=part_arg,
                   help="part or board: fold within its multipliers, then synthesize; ECP5 boards go on to "
                        f"place-and-route and a bitstream. {targets_help()}. Without --target, "
                        f"--folding, --target-fps and --max-multipliers the RTL design is folded within the "
                        f"multipliers of {DEFAULT_PART}, the part `report` uses by default")
    p.add_argument("--float-ckpt", type=Path, help="float checkpoint, for float-model agreement in `verify`")
    p.add_argument("--axi-data-bits", type=int, choices=[8, 16, 32, 64, 128, 256, 512, 1024],
                   help="AXI data width of the external memory port (temporal buffers planned external; default: "
                        "the widest external pixel rounded up to a power of two, at most the board memory's port)")
    p.add_argument("--memory-latency", type=int_range(1, 100_000),
                   help="nominal external memory latency in cycles (address to first data) that the prefetch FIFOs "
                        "hide (default 64); see docs/EXTERNAL_MEMORY.md")
    p.set_defaults(func=run)


def check_options(args: argparse.Namespace) -> None:
    """Refuse options that contradict each other or that the chosen backend would silently ignore."""
    if args.folding is not None and (args.target_fps is not None or args.max_multipliers is not None):
        raise PleiadesError("--folding sets every layer's PE/SIMD; it cannot be combined with --target-fps or "
                            "--max-multipliers (drop one of them)")
    if args.target_fps is not None and args.clock_mhz is None:
        raise PleiadesError("--target-fps needs --clock-mhz: the frame rate is reached at that clock "
                            "(e.g. --target-fps 100 --clock-mhz 50)")
    if args.backend != "rtl":
        ignored = [flag for flag, value in (("--axi-data-bits", args.axi_data_bits),
                                            ("--memory-latency", args.memory_latency)) if value is not None]
        if ignored:
            raise PleiadesError(f"{', '.join(ignored)} only apply to --backend rtl (external temporal buffers); "
                                "drop them")
    if args.backend == "hls4ml":
        ignored = [flag for flag, value in (("--folding", args.folding), ("--target-fps", args.target_fps),
                                            ("--max-multipliers", args.max_multipliers), ("--target", args.target),
                                            ("--float-ckpt", args.float_ckpt)) if value is not None]
        if ignored:
            raise PleiadesError(f"{', '.join(ignored)} do(es) not apply to --backend hls4ml (the hls4ml project is "
                                "not folded by this tool; see docs/HLS4ML.md); drop them")


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.artifacts import foreign_entries
    from pleiades_fpga.hw.backends import build
    from pleiades_fpga.hw.build import check_build_inputs
    from pleiades_fpga.toolflow.parts import get_part, multiplier_budget

    check_options(args)
    check_build_inputs(args.model, args.out, args.float_ckpt)
    foreign = foreign_entries(args.out)
    if foreign:
        raise PleiadesError(f"--out {args.out} is not a build directory (it holds {', '.join(foreign[:5])}"
                            f"{' ...' if len(foreign) > 5 else ''}); a build would mix its files with those: give a "
                            "new or empty directory, or an earlier build's")
    if args.folding is not None and not args.folding.is_file():
        raise PleiadesError(f"folding config {args.folding} does not exist or is not a file")
    if args.backend == "rtl" and args.max_multipliers is None and args.folding is None:
        if args.target:
            args.max_multipliers = multiplier_budget(get_part(args.target))
        elif args.target_fps is None:
            args.max_multipliers = multiplier_budget(get_part(DEFAULT_PART))
            print(f"folding within {args.max_multipliers} multipliers, so that the design fits {DEFAULT_PART} (the "
                  "default part of `report`); use --target, --max-multipliers, --target-fps or --folding to choose "
                  "otherwise", file=sys.stderr)
    if args.clock_mhz is None:
        args.clock_mhz = 100.0
    board_flow = False
    if args.target and args.backend == "rtl":  # decided before the build: the flow after it must not fail on it
        from pleiades_fpga.report.flow import board_for

        part = get_part(args.target)
        board_flow = part.family == "ecp5" and board_for(part.name, args.target) is not None
        if part.family == "ecp5" and not board_flow:
            print(f"{part.name} is a part without a board here: the design will be synthesized, not placed and "
                  "routed (a board target such as ulx3s-85f also gives a bitstream)", file=sys.stderr)
    if args.backend == "finn":
        return _run_finn(args)
    rtl_only = ({"part": args.target, "axi_data_bits": args.axi_data_bits, "memory_latency": args.memory_latency}
                if args.backend == "rtl" else {})
    m = build(args.model, args.out, args.backend, folding=args.folding, target_fps=args.target_fps,
              clock_mhz=args.clock_mhz, max_multipliers=args.max_multipliers, float_checkpoint=args.float_ckpt,
              **rtl_only)
    if args.backend != "rtl":
        print(f"wrote {args.out}/manifest.json and the {args.backend} project under {args.out}/{args.backend} "
              f"(see docs/HLS4ML.md for synthesis with Vitis HLS)")
        return 0
    print(f"{'layer':<16} {'kind':<14} {'PE':>3} {'SIMD':>4} {'cycles/frame':>12} {'mults':>5} {'MACs/frame':>11}")
    for l in m["layers"]:
        print(f"{l['name']:<16} {l['kind']:<14} {l.get('pe', '-'):>3} {l.get('simd', '-'):>4} "
              f"{l['cycles_per_frame']:>12,} {l['multipliers']:>5} {l['macs_per_frame']:>11,}")
    fps = args.clock_mhz * 1e6 / m["cycles_per_frame"]
    if args.target_fps is not None and fps < args.target_fps:
        limit = " within --max-multipliers" if args.max_multipliers is not None else ""
        print(f"warning: --target-fps {args.target_fps:g} is NOT reached: the fastest folding{limit} needs "
              f"{m['cycles_per_frame']:,} cycles/frame = {fps:,.1f} frames/s at {args.clock_mhz:g} MHz; raise "
              "--clock-mhz or lower --target-fps", file=sys.stderr)
    eff = m["ideal_cycles_per_frame"] / m["cycles_per_frame"]
    print(f"cycles/frame {m['cycles_per_frame']:,} (ideal {m['ideal_cycles_per_frame']:,.0f}, efficiency {eff:.2f}), "
          f"{m['multipliers']} multipliers, {m['macs_per_frame']:,} MACs/frame")
    ext = m.get("external_memory")
    if ext:
        print(f"external memory: {len(ext['masters'])} temporal layer(s) ({', '.join(x['layer'] for x in ext['masters'])})"
              f" on one AXI4 port {ext['port']}_* ({ext['data_bits']} bits), {ext['region_bytes']:,} bytes from "
              f"parameter {ext['base_addr_parameter']}, {ext['bytes_per_frame']:,} bytes/frame")
        if ext.get("port_bound"):
            print(f"warning: {_port_bound_hint(m)}", file=sys.stderr)
    print(f"wrote {args.out}/rtl ({len(m['rtl_files'])} files), {args.out}/manifest.json")
    if args.target:
        from pleiades_fpga.report.flow import run_report

        print(f"synthesizing for {args.target}{' (place and route, bitstream)' if board_flow else ''} ...",
              flush=True)
        report = run_report(args.out, args.target, synth=True, bitstream=board_flow)
        print(f"report: {args.out}/report.json, {args.out}/report.html; real-time: {report.get('realtime')}")
    return 0


def _port_bound_hint(m: dict) -> str:
    """Why the shared AXI port, not a layer, sets cycles/frame, and what removes that bound."""
    ext = m["external_memory"]
    beats = max(ext["read_beats_per_frame"], ext["write_beats_per_frame"])
    compute = max(l["cycles_per_frame"] for l in m["layers"])
    reads = [(b["params"]["DATA_W"] * b["params"].get("BPP", 1), b["read_bytes_per_frame"])
             for b in m["memory_plan"]["buffers"] if b["memory"] == "external"]   # (pixel bits, bytes read)

    def read_beats(width: int) -> int:      # a pixel of p bits takes p / width beats, at least one
        return sum(n * 8 // p * max(1, p // width) for p, n in reads)

    widths = [w for w in (2 ** i for i in range(4, 11)) if w > ext["data_bits"] and read_beats(w) <= compute]
    fix = (f"--axi-data-bits {widths[0]} (if the board's port takes it) brings the reads to {read_beats(widths[0]):,}"
           if widths else "a wider port does not help (a pixel is one beat): keep some of these buffers on chip "
           "(\"memory\": \"onchip\" in the folding JSON)")
    return (f"the shared AXI port sets cycles/frame: {beats:,} beats/frame on one channel > {compute:,} compute "
            f"cycles of the slowest layer ({beats / compute:.3f}x); {fix}")


def _run_finn(args: argparse.Namespace) -> int:
    import json

    from pleiades_fpga.hw.finn_backend.project import DEFAULT_PART, build_finn, comparison_table

    m = build_finn(args.model, args.out, clock_mhz=args.clock_mhz, part=args.target or DEFAULT_PART,
                   folding=args.folding, target_fps=args.target_fps, max_multipliers=args.max_multipliers,
                   float_checkpoint=args.float_ckpt)
    comparison = json.loads((args.out / "finn" / "comparison.json").read_text())
    print(comparison_table(comparison))
    temporal = ", ".join(t["layer"] for t in comparison["temporal_layers"])
    print(f"FINN has no op for the causal temporal layers ({temporal}): they come from our RTL; "
          f"{args.out}/finn/split.json says which unit implements each layer and how the streams connect")
    print(f"wrote {args.out}/rtl, {args.out}/manifest.json (our design) and {args.out}/finn/ (segments, FINN "
          "estimate reports, split.json, comparison.json)")
    if not m["finn"]["all_segments_ok"]:
        print("warning: FINN did not convert every segment; see the 'finn_steps' of finn/comparison.json")
    return 0
