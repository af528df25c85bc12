"""``pleiades-fpga verify build/NAME --frames N --sim verilator``: bit-exact RTL simulation vs the golden model."""
from __future__ import annotations

import argparse
from pathlib import Path

from pleiades_fpga.argtypes import float_range, int_range, nonneg_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    from pleiades_fpga.sim.harness import MAX_PAUSE
    from pleiades_fpga.sim.verify import MAX_JOBS
    from pleiades_fpga.toolflow.locate import SIMULATORS

    p = subparsers.add_parser(
        "verify", help="simulate an RTL build in an HDL harness and compare it with the integer golden model",
        description="Stream clips of event frames through the generated design inside an HDL harness (random idle "
                    "gaps on the input and back-pressure on the output; the first clip also without pauses), "
                    "compare every output with the golden model, check every internal stream (AXI-Stream "
                    "stability, tlast, beats per frame), measure cycles per frame and latency; writes "
                    "verification.json and verification.npz into the build directory.")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--frames", type=positive_int, default=30, help="frames to stream (default 30; rounded up to whole clips; 10^5 and more work)")
    p.add_argument("--clip-frames", type=positive_int,
                   help="frames per clip (the design is reset before each clip); default min(frames, 100)")
    p.add_argument("--jobs", type=int_range(1, MAX_JOBS), default=1,
                   help=f"simulator processes running clips in parallel (one shared build; default 1, at most "
                        f"{MAX_JOBS}, no more than there are clips)")
    p.add_argument("--sim", default="verilator", choices=SIMULATORS)
    p.add_argument("--pause", type=float_range(0.0, MAX_PAUSE), default=0.3,
                   help=f"probability in [0, {MAX_PAUSE}] of an idle burst on the input and of a back-pressure burst "
                        "on the output (bursts of 1-4 cycles; default 0.3; 0 = no pauses)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the clips and the pause generators")
    p.add_argument("--trace-layers", action="store_true",
                   help="also record every layer's output stream (first clip, no pauses) and compare it with the "
                        "golden model: names the first layer that differs")
    p.add_argument("--float-ckpt", type=Path, help="float checkpoint (default: BUILD/float.pt when present)")
    p.add_argument("--mem-latency", type=_latency_range, metavar="MIN:MAX",
                   help="designs with external memory: random latency range (cycles) of the AXI memory model in the "
                        "runs with pauses (default 16:2x the nominal latency; the timing run uses the nominal one)")
    p.add_argument("--mem-stall", type=float_range(0.0, MAX_PAUSE),
                   help="designs with external memory: probability that the memory model holds a ready/valid low "
                        "in a cycle of the runs with pauses (default: --pause)")
    p.set_defaults(func=run)


def _latency_range(text: str) -> tuple[int, int]:
    """``MIN:MAX`` cycles, 1 <= MIN <= MAX < 65536."""
    try:
        lo, hi = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN:MAX (two whole numbers of cycles, e.g. 16:128)")
    if not 1 <= lo <= hi < 1 << 16:
        raise argparse.ArgumentTypeError(f"latency range {text}: need 1 <= MIN <= MAX < 65536")
    return lo, hi


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.sim.verify import verify_build

    s = verify_build(args.build_dir, frames=args.frames, sim=args.sim, clip_frames=args.clip_frames, seed=args.seed,
                     pause=args.pause, float_checkpoint=args.float_ckpt, trace_layers=args.trace_layers,
                     jobs=args.jobs, progress=True, mem_latency=args.mem_latency, mem_stall=args.mem_stall)
    verdict = "BIT-EXACT" if s["bit_exact"] else "MISMATCH"
    print(f"{verdict}: {s['mismatches']} mismatching and {s['missing_values']} missing of {s['values_compared']:,} "
          f"values over {s['frames']} frames ({s['simulator']})")
    checks = s["stream_checks"]
    print(f"stream checks: {checks['violations']} violations on {checks['streams']} streams")
    for msg in checks["messages"]:
        print(f"  {msg}")
    mem = s.get("external_memory")
    if mem:
        print(f"external memory (HDL model, latency {mem['latency_cycles'][0]}-{mem['latency_cycles'][1]} cycles, "
              f"stall {mem['stall']}): {mem['read_beats']:,} beats read, {mem['write_beats']:,} written, "
              f"{mem['errors']} AXI rule violations, {mem['unwritten_reads']} reads of unwritten words, "
              f"error responses: {mem['axi_error']}")
    print(f"cycles/frame measured {_fmt(s['cycles_per_frame_measured'])} vs analytic "
          f"{s['cycles_per_frame_analytic']:,} (efficiency {_fmt(s['efficiency'], '.2f')}); latency "
          f"{_fmt(s['latency_cycles'])} cycles; {_fmt(s['sim_cycles_per_second'])} simulated cycles/s per job, "
          f"{s['wall_seconds']:.1f} s in all")
    if s.get("float_model"):
        f = s["float_model"]
        print(f"float model: argmax agreement {f['argmax_agreement']:.3f}, max |logit error| "
              f"{f['max_abs_logit_error']:.4f}, mean {f['mean_abs_logit_error']:.4f}")
    for name, r in (s.get("layers") or {}).items():
        print(f"  layer {name}: {r['mismatches']} mismatching of {r['values_compared']:,}"
              + (f", first at {r['first']}" if r.get("first") else ""))
    if s.get("hint"):
        print(s["hint"])
    print(f"wrote {args.build_dir}/verification.json, {args.build_dir}/verification.npz")
    return 0 if s["passed"] else 1
