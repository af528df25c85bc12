"""``pleiades-fpga demo --out build/demo``: the whole flow on the embedded synthetic default.

train (float) -> QAT -> QONNX export -> streaming RTL -> cocotb verification -> report.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pleiades_fpga.argtypes import positive_int

DEMO_EXPORT_FRAMES = 16  # clip length of the exported graph


def register(subparsers: argparse._SubParsersAction) -> None:
    from pleiades_fpga.model.presets import PRESETS
    from pleiades_fpga.toolflow.locate import SIMULATORS

    p = subparsers.add_parser(
        "demo", help="run the whole flow on the synthetic default (train, QAT, export, RTL, verify, report)",
        description="Train the default PLEIADES network on synthetic event gestures, fine-tune it with "
                    "quantization-aware training, export QONNX, generate the streaming RTL design, verify it "
                    "bit-exactly with cocotb against the integer golden model, and write the reports.")
    p.add_argument("--out", type=Path, default=Path("build/demo"), help="output directory (default build/demo)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="network preset (default: default)")
    p.add_argument("--epochs", type=positive_int, default=None, help="float training epochs (default: the trainer's)")
    p.add_argument("--quant", default="w8a8", help="QAT spec (default w8a8; e.g. w4a4 or a TOML/YAML file)")
    p.add_argument("--qat-epochs", type=positive_int, default=2, help="QAT fine-tuning epochs (default 2)")
    p.add_argument("--frames", type=positive_int, default=300,
                   help="frames to verify in RTL simulation (default 300, clips of 100, 2 simulator processes)")
    p.add_argument("--sim", default="verilator", choices=SIMULATORS)
    p.add_argument("--target", default="lfe5u-85f", help="part for the report (default lfe5u-85f)")
    p.add_argument("--synth", action="store_true", help="also synthesize with Yosys for the report (minutes)")
    p.add_argument("--bitstream", action="store_true", help="ECP5 target: place and route and a bitstream")
    p.add_argument("--max-multipliers", type=positive_int, default=128,
                   help="fold the RTL within this many multipliers (default 128: fits the LFE5U-85F's 156)")
    p.add_argument("--n-train", type=positive_int, default=None, help="training clips (default: the dataset's)")
    p.add_argument("--n-test", type=positive_int, default=None, help="test clips (default: the dataset's)")
    p.set_defaults(func=run)


def _stage(n: int, total: int, text: str) -> float:
    print(f"\n[{n}/{total}] {text}", flush=True)
    return time.time()


def check_inputs(args: argparse.Namespace) -> None:
    """Every input of the demo, checked in seconds before any training: output directory, quant spec, target part
    (and --bitstream on an ECP5 part only) and the float training config (training checks its memory itself)."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.model.checkpoint import CHECKPOINT
    from pleiades_fpga.paths import DEMO_SUMMARY, ONNX_MODEL, TRAIN_METRICS, check_output_dir
    from pleiades_fpga.quant.config import resolve_spec
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.train import TrainConfig

    check_output_dir(args.out, "--out", inputs=(args.quant,),
                     files={"float/checkpoint.pt": CHECKPOINT, "quant/checkpoint.pt": CHECKPOINT,
                            "float/metrics.json": TRAIN_METRICS, "quant/metrics.json": TRAIN_METRICS,
                            "metrics.json": TRAIN_METRICS, "model.onnx": ONNX_MODEL, "demo.json": DEMO_SUMMARY})
    resolve_spec(args.quant)
    part = get_part(args.target)
    if args.bitstream and part.family != "ecp5":
        raise PleiadesError(f"--bitstream runs place and route for ECP5 parts only, not {part.name}; drop --bitstream "
                            "or choose an ECP5 --target (e.g. lfe5u-85f)")
    TrainConfig(out=str(args.out / "float"), preset=args.preset, n_train=args.n_train, n_test=args.n_test)
    check_folding_budget(args)


def check_folding_budget(args: argparse.Namespace) -> None:
    """--max-multipliers refused in seconds, not after training: the untrained QAT network of the preset (same
    layers as the one trained) is exported and folded by build's own :func:`default_folding`."""
    import tempfile

    from pleiades_fpga.data.datasets import DATASET_CLASSES
    from pleiades_fpga.hw.rtl.folding import default_folding
    from pleiades_fpga.ir.reader import read_qonnx
    from pleiades_fpga.quant import export_model
    from pleiades_fpga.train import TrainConfig
    from pleiades_fpga.train.loop import make_model

    cfg = TrainConfig(preset=args.preset, quant=args.quant)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_model(make_model(cfg, len(DATASET_CLASSES[cfg.dataset])), Path(tmp) / "m.onnx",
                                 frames=DEMO_EXPORT_FRAMES)
        default_folding(read_qonnx(onnx_path), max_multipliers=args.max_multipliers)


def run(args: argparse.Namespace) -> int:
    check_inputs(args)
    from pleiades_fpga.artifacts import HASH_KEY, design_hash, write_json_atomic
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.ir.summary import summary as ir_summary
    from pleiades_fpga.quant import export_model
    from pleiades_fpga.sim.verify import verify_build
    from pleiades_fpga.train import TrainConfig, train_model

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    total, times = 6, {}
    common = {"preset": args.preset, "n_train": args.n_train, "n_test": args.n_test}
    if args.epochs is not None:
        common_float = {**common, "epochs": args.epochs}
    else:
        common_float = common

    t = _stage(1, total, f"training the float '{args.preset}' network on synthetic event gestures")
    _, float_metrics = train_model(TrainConfig(out=str(out / "float"), **common_float))
    times["train_float_s"] = time.time() - t

    t = _stage(2, total, f"quantization-aware fine-tuning ({args.quant})")
    qmodel, quant_metrics = train_model(TrainConfig(out=str(out / "quant"), quant=args.quant,
                                                    init=str(out / "float" / "checkpoint.pt"),
                                                    epochs=args.qat_epochs, **common))
    times["qat_s"] = time.time() - t

    t = _stage(3, total, "QONNX export and integer golden model")
    onnx_path = export_model(qmodel, out / "model.onnx", frames=DEMO_EXPORT_FRAMES)
    print(ir_summary(GoldenModel.from_qonnx(onnx_path).ir))
    times["export_s"] = time.time() - t

    t = _stage(4, total, "streaming RTL generation")
    manifest = build_rtl(onnx_path, out, max_multipliers=args.max_multipliers,
                         float_checkpoint=out / "float" / "checkpoint.pt")
    print(f"{len(manifest['layers'])} layers, {manifest['multipliers']} multipliers, "
          f"{manifest['cycles_per_frame']:,} cycles/frame")
    times["build_s"] = time.time() - t

    t = _stage(5, total, f"bit-exact verification on {args.sim} ({args.frames} frames under random back-pressure, "
                         "stream checks on every layer)")
    ver = verify_build(out, frames=args.frames, sim=args.sim, jobs=2, progress=True)
    times["verify_s"] = time.time() - t
    cpf = ver["cycles_per_frame_measured"]
    print(f"{'BIT-EXACT' if ver['bit_exact'] else 'MISMATCH'}: {ver['mismatches']} mismatches over "
          f"{ver['values_compared']:,} values; stream checks {'ok' if ver['stream_checks']['ok'] else 'FAILED'}; "
          f"{'n/a' if cpf is None else format(cpf, ',.0f')} cycles/frame measured")

    t = _stage(6, total, f"report for {args.target}")
    from pleiades_fpga.commands.report import summary_lines
    from pleiades_fpga.report.flow import run_report

    shutil.copyfile(out / "quant" / "metrics.json", out / "metrics.json")  # accuracy-vs-latency for the report
    report = run_report(out, args.target, synth=args.synth, bitstream=args.bitstream, strict_fit=False)
    report_files = [str(out / "report.json"), str(out / "report.html")]
    print("\n".join(summary_lines(report)))
    times["report_s"] = time.time() - t

    summary = {
        HASH_KEY: design_hash(out),  # a rebuild of another design into OUT moves this summary aside (stale/)
        "float_filtered_accuracy": float_metrics.get("filtered_accuracy"),
        "quant": args.quant, "quant_filtered_accuracy": quant_metrics.get("filtered_accuracy"),
        "bit_exact": ver["bit_exact"], "stream_checks_passed": ver["passed"], "mismatches": ver["mismatches"], "frames_verified": ver["frames"],
        "cycles_per_frame": ver["cycles_per_frame_measured"], "latency_cycles": ver["latency_cycles"],
        "multipliers": manifest["multipliers"], "report_target": args.target, "fits": report.get("fits"),
        "realtime": report.get("realtime"), "seconds": times,
    }
    write_json_atomic(out / "demo.json", summary)
    print("\nfiles:")
    for rel in ["float/checkpoint.pt", "float/metrics.json", "float/latency.png", "quant/checkpoint.pt",
                "quant/metrics.json", "model.onnx", "rtl/", "manifest.json", "verification.json",
                "verification.npz", "metrics.json", "demo.json"]:
        print(f"  {out / rel}")
    for f in report_files:
        print(f"  {f}")
    return 0 if ver["bit_exact"] else 1
