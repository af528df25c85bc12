"""``pleiades-fpga export CKPT --out model.onnx``: QONNX export of a quantized checkpoint (BatchNorm folded).

A float checkpoint is refused unless ``--quant SPEC`` asks for post-training quantization (activation scales
calibrated on synthetic training clips, ``pleiades_fpga.quant.ptq`` as in ``pleiades-fpga quantize``); QAT
(``pleiades-fpga train --quant ...``) is the accurate route.
"""
from __future__ import annotations

import argparse

from pleiades_fpga.argtypes import positive_int
from pleiades_fpga.commands.train import bit_width

DEFAULT_CALIB_CLIPS = 8  # post-training calibration clips, one pass each (also `quantize`)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a quantized checkpoint to QONNX (with PLEIADES metadata) and check it with the golden model",
        description="Write a QONNX model of the whole causal network over a clip (batch, 2, T, H, W): temporal "
                    "layers as causal Conv over time, Quant nodes, BatchNorm folded, metadata_props with the "
                    "PLEIADES kernel parameters. Then runs the integer golden model on it and prints the IR.",
    )
    p.add_argument("checkpoint", help="checkpoint from `pleiades-fpga train --quant ...`")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--frames", type=positive_int, default=16, help="clip length T of the exported graph (default 16)")
    p.add_argument("--quant", default=None, metavar="SPEC",
                   help="post-training quantization of a FLOAT checkpoint (w8a8, w4a4, or a TOML/YAML config)")
    p.add_argument("--wbits", type=bit_width, default=None, help="with --quant: override the default weight bits")
    p.add_argument("--abits", type=bit_width, default=None, help="with --quant: override the default activation bits")
    p.add_argument("--calib-clips", type=positive_int, default=None,
                   help=f"with --quant: synthetic clips for calibration (default {DEFAULT_CALIB_CLIPS})")
    p.add_argument("--temporal", choices=("buffer", "recurrent"), default=None,
                   help="with --quant: convert a float checkpoint's temporal layers first (recurrent = polynomial "
                        "projection states; fine-tuning with `train --temporal recurrent` is more accurate)")
    p.add_argument("--quiet", action="store_true", help="do not print the IR summary")
    p.set_defaults(func=run)


def _post_training_quant(model, args: argparse.Namespace):
    from pleiades_fpga.quant.config import resolve_spec
    from pleiades_fpga.quant.ptq import calibrate_ptq, calibration_frames, prepare_ptq

    qmodel = prepare_ptq(model, resolve_spec(args.quant, args.wbits, args.abits))
    return calibrate_ptq(qmodel, calibration_frames(model.config, "synthetic", args.calib_clips or DEFAULT_CALIB_CLIPS))


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.model import load_model
    from pleiades_fpga.paths import ONNX_MODEL, check_output_file
    from pleiades_fpga.train.loop import eval_batch_size

    out = check_output_file(args.out, "--out", kind=ONNX_MODEL, inputs=(args.checkpoint, args.quant))
    if args.quant is None and (args.wbits is not None or args.abits is not None or args.calib_clips is not None):
        raise PleiadesError("--wbits, --abits and --calib-clips apply to post-training quantization only: add --quant "
                            "SPEC (for a float checkpoint), or drop them")
    if args.quant is not None:
        from pleiades_fpga.quant.config import resolve_spec

        resolve_spec(args.quant, args.wbits, args.abits)  # a bad spec is refused before the model is built
    model = load_model(args.checkpoint)
    h, w = model.config.input_size
    eval_batch_size(model.config, (1, model.config.in_channels, args.frames, h, w), 1,
                    f"exporting {args.frames} frames")  # the memory of the export trace
    if getattr(model, "quant_config", None) is None:
        if args.quant is None:
            raise PleiadesError(
                f"{args.checkpoint} is a float checkpoint: run quantization-aware training first "
                f"(`pleiades-fpga train --quant w4a4 --init {args.checkpoint} ...`), or quantize it after "
                "training with `--quant w8a8` (less accurate)"
            )
        if args.temporal is not None and args.temporal != model.config.temporal:
            from pleiades_fpga.model.convert import convert_model

            model = convert_model(model, layers=(args.temporal,) * len(model.config.blocks))
        model = _post_training_quant(model, args)
    elif args.quant is not None:
        raise PleiadesError(f"{args.checkpoint} is already quantized; drop --quant")
    elif args.temporal is not None and args.temporal != model.config.temporal:
        raise PleiadesError(f"{args.checkpoint} is a quantized network with temporal={model.config.temporal!r}; "
                            f"--temporal {args.temporal} needs a float checkpoint (or `train --temporal ... --quant`)")
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.ir.summary import summary
    from pleiades_fpga.quant import export_model

    from pleiades_fpga.artifacts import atomic_path

    with atomic_path(out) as tmp:  # replaces an earlier OUT only once the new file reads back into the golden model
        try:
            golden = GoldenModel.from_qonnx(export_model(model, tmp, frames=args.frames))
        except PleiadesError as exc:  # about the file being written: name the user's --out, not the temporary
            raise PleiadesError(f"exporting {args.checkpoint} to --out {out} failed: "
                                f"{str(exc).replace(str(tmp), str(out))}") from exc
    if not args.quiet:
        print(summary(golden.ir))
    print(f"wrote {out}")
    return 0
