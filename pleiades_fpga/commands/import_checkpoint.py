"""``pleiades-fpga import-checkpoint PATH --out OUT``: published PLEIADES state_dict -> project checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from pleiades_fpga.argtypes import float_range, positive_int

jacobi_param = float_range(-1.0, lo_open=True)  # Jacobi alpha, beta > -1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-checkpoint",
        help="convert a published PLEIADES DVS128 state_dict into a pleiades-fpga checkpoint",
        description="Convert a published PLEIADES DVS128 state_dict (Brainchip-Inc/TENNs-Pleiades layout, "
                    "tensors (B, C, H, W, T)) into a pleiades-fpga/1 float checkpoint (load with load_model).",
    )
    p.add_argument("path", type=Path, help="published state_dict (.pt)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--alpha", type=jacobi_param, default=-0.25,
                   help="Jacobi alpha (> -1) of the published basis (-0.25)")
    p.add_argument("--beta", type=jacobi_param, default=-0.25,
                   help="Jacobi beta (> -1) of the published basis (-0.25)")
    p.add_argument("--norm-groups", type=positive_int, default=4, help="GroupNorm groups of the published model (4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.model.checkpoint import read_checkpoint, save_checkpoint
    from pleiades_fpga.model.network import count_parameters
    from pleiades_fpga.model.published import import_published
    from pleiades_fpga.model.checkpoint import CHECKPOINT
    from pleiades_fpga.paths import check_input_file, check_output_file

    check_input_file(args.path, "published state_dict")
    if args.path.suffix.lower() == ".onnx":
        raise PleiadesError(f"{args.path} is an ONNX model; import-checkpoint converts a published PyTorch state_dict "
                            "(.pt)")
    check_output_file(args.out, "--out", kind=CHECKPOINT, inputs=(args.path,))
    try:
        read_checkpoint(args.path)
    except PleiadesError:
        pass  # not one of ours: import it
    else:
        raise PleiadesError(f"{args.path} is already a pleiades-fpga checkpoint; use it directly "
                            "(train --init, evaluate, export)")
    model = import_published(args.path, alpha=args.alpha, beta=args.beta, norm_groups=args.norm_groups)
    meta = {"source": str(args.path), "imported_from": "published PLEIADES state_dict"}
    out = save_checkpoint(model, args.out, meta=meta)
    cfg = model.config
    blocks = ", ".join(f"{b.kind}({b.in_channels},{b.med_channels},{b.out_channels})" for b in cfg.blocks)
    print(f"imported {args.path}: {len(cfg.blocks)} blocks [{blocks}], K={cfg.kernel_size}, degree={cfg.degree}, "
          f"{cfg.num_classes} classes, {count_parameters(model):,} trainable parameters")
    print(f"wrote {out}")
    return 0
