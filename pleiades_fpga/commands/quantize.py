"""``pleiades-fpga quantize CKPT --quant SPEC --calib synthetic|DIR --out model.onnx``: post-training quantization
of a float checkpoint (e.g. the published network from ``import-checkpoint``) to QONNX.

Order: every input checked and the quantized network's exportability decided from its configuration (seconds,
``pleiades_fpga.quant.ptq.prepare_ptq``), then the calibration clips read or generated, activation scales
calibrated (progress per clip), the QONNX file written and read back into the integer golden model.
``--bin-ms`` re-discretizes the temporal kernels for another bin size first (same time window, no retraining).
"""
from __future__ import annotations

import argparse

from pleiades_fpga.argtypes import positive_int
from pleiades_fpga.commands.export import DEFAULT_CALIB_CLIPS
from pleiades_fpga.commands.train import bin_ms_to_us


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize",
        help="post-training quantization of a float checkpoint to QONNX (calibrated on event clips)",
        description="Quantize a float checkpoint without retraining: weights from the checkpoint, activation scales "
                    "calibrated on synthetic gestures at the model's resolution or on a local DVS128 Gesture copy, "
                    "exportability checked before calibrating. Writes the QONNX model (as `export` does) and prints "
                    "the integer IR.",
    )
    p.add_argument("checkpoint", help="float checkpoint (`train`, or `import-checkpoint` of a published network)")
    p.add_argument("--quant", required=True, metavar="SPEC", help="w8a8, w4a8, ... or a TOML/YAML/JSON quant config")
    p.add_argument("--calib", required=True, metavar="synthetic|DIR",
                   help="calibration clips: 'synthetic' gestures, or the directory of a DVS128 Gesture copy")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--bin-ms", type=bin_ms_to_us, default=None, dest="bin_us", metavar="MS",
                   help="re-sample the temporal kernels for this bin size first (e.g. 5 or 20 for a 10 ms network)")
    p.add_argument("--calib-clips", type=positive_int, default=DEFAULT_CALIB_CLIPS,
                   help=f"calibration clips (default {DEFAULT_CALIB_CLIPS})")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="per-layer widths merged into SPEC (JSON/TOML/YAML: {\"blocks.0.*\": {\"act_bits\": 8}} or a "
                        "quant config with a 'layers' table)")
    p.add_argument("--frames", type=positive_int, default=16, help="clip length T of the exported graph (default 16)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--quiet", action="store_true", help="do not print the IR summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pleiades_fpga.artifacts import atomic_path
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.ir.summary import summary
    from pleiades_fpga.model import load_model
    from pleiades_fpga.paths import ONNX_MODEL, check_input_file, check_output_file
    from pleiades_fpga.quant import export_model
    from pleiades_fpga.quant.config import resolve_spec, with_layer_config
    from pleiades_fpga.quant.ptq import calibrate_ptq, calibration_frames, prepare_ptq
    from pleiades_fpga.train.loop import eval_batch_size, resample_for_bin

    out = check_output_file(args.out, "--out", kind=ONNX_MODEL, inputs=(args.checkpoint, args.quant, args.config))
    check_input_file(args.checkpoint, "checkpoint")
    if args.calib != "synthetic" and not Path(args.calib).is_dir():
        raise PleiadesError(f"--calib {args.calib!r} is neither 'synthetic' nor a directory (a DVS128 Gesture copy)")
    spec = resolve_spec(args.quant)
    if args.config is not None:
        spec = with_layer_config(spec, args.config)
    model = load_model(args.checkpoint)
    if getattr(model, "quant_config", None) is not None:
        raise PleiadesError(f"{args.checkpoint} is already quantized; export it with `pleiades-fpga export`")
    if args.bin_us is not None:
        model = resample_for_bin(model, args.bin_us)
    h, w = model.config.input_size
    eval_batch_size(model.config, (1, model.config.in_channels, args.frames, h, w), 1,
                    f"exporting {args.frames} frames")  # the memory of the export trace
    qmodel = prepare_ptq(model, spec)  # refuses an unexportable network before any calibration
    progress = not args.no_progress
    frames = calibration_frames(model.config, args.calib, args.calib_clips, progress=progress)
    qmodel = calibrate_ptq(qmodel, frames, progress=progress)
    with atomic_path(out) as tmp:  # replaces an earlier OUT only once the new file reads back into the golden model
        try:
            golden = GoldenModel.from_qonnx(export_model(qmodel, tmp, frames=args.frames))
        except PleiadesError as exc:
            raise PleiadesError(f"quantizing {args.checkpoint} to --out {out} failed: "
                                f"{str(exc).replace(str(tmp), str(out))}") from exc
    if not args.quiet:
        print(summary(golden.ir))
    cfg = model.config
    widths = f" (per layer: {args.config or args.quant})" if spec["layers"] else ""
    print(f"quantized {args.checkpoint} ({spec['weight_bits']}-bit weights, {spec['act_bits']}-bit activations"
          f"{widths}, {cfg.bin_us / 1000:g} ms bins, K={cfg.kernel_size}) on {len(frames)} {args.calib} clips")
    print(f"wrote {out}")
    return 0
