"""``pleiades-fpga evaluate CKPT``: per-step and majority-filtered accuracy of a checkpoint, at any bin size."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pleiades_fpga.commands.train import _ms_to_us, _positive_int
from pleiades_fpga.data.datasets import DATASETS
from pleiades_fpga.data.synthetic import RESOLUTIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a checkpoint (optionally at another bin size, with re-sampled kernels)",
        description="Evaluate a checkpoint on the test split of the data set it was trained on (from its "
                    "metadata unless overridden). --bin-ms re-bins the test events and re-samples the temporal "
                    "kernels to the new bin size (same time window, no fine-tuning).",
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by train")
    p.add_argument("--bin-ms", type=_ms_to_us, default=None, dest="bin_us", metavar="MS",
                   help="bin size in milliseconds (default: the checkpoint's)")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=None)
    p.add_argument("--seed", type=int, default=None, help="data seed (default: the checkpoint's)")
    p.add_argument("--n-test", type=_positive_int, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--plot", type=Path, default=None, help="also write the latency curve to this PNG")
    p.add_argument("--threads", type=_positive_int, default=2)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from pleiades_fpga.data.datasets import load_clips
    from pleiades_fpga.model import load_meta, load_model
    from pleiades_fpga.train import evaluate_model, plot_latency

    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    tc = load_meta(args.checkpoint).get("train_config", {})

    def pick(name: str, default):
        value = getattr(args, name)
        return value if value is not None else tc.get(name, default)

    clips = load_clips(pick("dataset", "synthetic"), "test", pick("resolution", model.config.input_size[0]),
                       pick("n_test", None), pick("seed", 0), pick("data_root", None),
                       progress=not args.no_progress)
    metrics = evaluate_model(model, clips, args.bin_us, progress=not args.no_progress)
    metrics["checkpoint"] = str(args.checkpoint)
    metrics["trained_bin_us"] = model.config.bin_us
    print(f"{args.checkpoint}: {metrics['bin_us'] / 1000:g} ms bins (kernel size {metrics['kernel_size']}), "
          f"{metrics['n_clips']} clips: filtered accuracy {100 * metrics['filtered_accuracy']:.2f} %, "
          f"mean per-step {100 * metrics['mean_step_accuracy']:.2f} %")
    for row in metrics["latency_table"][::2]:
        print(f"  t = {row['t_ms']:7.1f} ms  accuracy {100 * row['accuracy']:6.2f} %")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(metrics, indent=1) + "\n")
    if args.plot:
        plot_latency({f"{metrics['bin_us'] / 1000:g} ms": (np.asarray(metrics["per_step_accuracy"]),
                                                           metrics["bin_us"])}, args.plot)
    return 0
