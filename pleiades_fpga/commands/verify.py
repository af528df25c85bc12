"""``pleiades-fpga verify build/NAME --frames N --sim verilator``: bit-exact RTL simulation vs the golden model."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="simulate an RTL build with cocotb and compare it with the integer golden model",
        description="Stream clips of event frames through the generated design (once without, once with random "
                    "back-pressure), compare every output with the golden model, measure cycles per frame and "
                    "latency; writes verification.json and verification.npz into the build directory.")
    p.add_argument("build_dir", type=Path)
    p.add_argument("--frames", type=int, default=30, help="frames to stream (default 30)")
    p.add_argument("--clip-frames", type=int, help="frames per clip (reset between clips); default: one clip")
    p.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    p.add_argument("--pause", type=float, default=0.3, help="probability of a pause cycle on each side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace-layers", action="store_true",
                   help="also record every layer's output stream (first run) and compare it with the golden model: "
                        "names the first layer that differs (slower)")
    p.add_argument("--float-ckpt", type=Path, help="float checkpoint (default: BUILD/float.pt when present)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.sim.verify import verify_build

    print(f"simulating {args.build_dir} on {args.sim} ({args.frames} frames, twice) ...", flush=True)
    s = verify_build(args.build_dir, frames=args.frames, sim=args.sim, clip_frames=args.clip_frames, seed=args.seed,
                     pause=args.pause, float_checkpoint=args.float_ckpt, trace_layers=args.trace_layers)
    verdict = "BIT-EXACT" if s["bit_exact"] else "MISMATCH"
    print(f"{verdict}: {s['mismatches']} mismatching of {s['values_compared']:,} values over {s['frames']} frames "
          f"({s['simulator']})")
    print(f"cycles/frame measured {s['cycles_per_frame_measured']:,.0f} vs analytic {s['cycles_per_frame_analytic']:,} "
          f"(efficiency {s['efficiency']:.2f}); latency {s['latency_cycles']:,.0f} cycles; "
          f"{s['sim_cycles_per_second']:,.0f} simulated cycles/s")
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
    return 0 if s["bit_exact"] else 1
