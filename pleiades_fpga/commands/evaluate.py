"""``pleiades-fpga evaluate CKPT``: per-step and majority-filtered accuracy of a checkpoint, at any bin size."""
from __future__ import annotations

import argparse
from pathlib import Path

from pleiades_fpga.argtypes import positive_int
from pleiades_fpga.commands.train import bin_ms_to_us, seed_value, thread_count
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
    p.add_argument("--bin-ms", type=bin_ms_to_us, default=None, dest="bin_us", metavar="MS",
                   help="bin size in milliseconds (default: the checkpoint's)")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=None)
    p.add_argument("--seed", type=seed_value, default=None, help="data seed (default: the checkpoint's)")
    p.add_argument("--n-test", type=positive_int, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--plot", type=Path, default=None, help="also write the latency curve to this PNG")
    p.add_argument("--threads", type=thread_count, default=2, help="torch CPU threads (1..256, default 2)")
    p.add_argument("--drop-bad-events", action="store_true",
                   help="dvs128: drop bad events and report how many, instead of refusing the file")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from pleiades_fpga.artifacts import write_json_atomic
    from pleiades_fpga.data.datasets import check_frames_request, load_clips
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.model import load_meta, load_model
    from pleiades_fpga.paths import EVAL_METRICS, check_output_file, check_plot_file
    from pleiades_fpga.train import evaluate_model, plot_latency
    from pleiades_fpga.train.loop import eval_batch_size, resample_for_bin

    if args.json is not None:
        check_output_file(args.json, "--json", kind=EVAL_METRICS, inputs=(args.checkpoint, args.plot))
    if args.plot is not None:
        check_plot_file(args.plot, "--plot", inputs=(args.checkpoint,))
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    tc = load_meta(args.checkpoint).get("train_config", {})

    def pick(name: str, default):
        value = getattr(args, name)
        return value if value is not None else tc.get(name, default)

    dataset, resolution = pick("dataset", "synthetic"), pick("resolution", model.config.input_size[0])
    data_root = pick("data_root", None) if dataset == "dvs128" else None
    if args.data_root is not None and dataset != "dvs128":
        raise PleiadesError(f"--data-root is only read with the dvs128 dataset, not {dataset!r}; drop it")
    if args.drop_bad_events and dataset != "dvs128":
        raise PleiadesError("--drop-bad-events applies to event files (the dvs128 dataset) only; drop it")
    bin_us = args.bin_us or model.config.bin_us
    resample_for_bin(model, bin_us)  # refuses a bin size the kernel window cannot be re-sampled to, before any data
    frames = check_frames_request(dataset, "test", resolution, pick("n_test", None), bin_us)
    eval_batch_size(model.config, (1, 2, frames, resolution, resolution), 16)
    clips = load_clips(dataset, "test", resolution, pick("n_test", None), pick("seed", 0), data_root,
                       progress=not args.no_progress, drop_bad_events=args.drop_bad_events)
    metrics = evaluate_model(model, clips, bin_us, progress=not args.no_progress)
    metrics["checkpoint"] = str(args.checkpoint)
    metrics["trained_bin_us"] = model.config.bin_us
    print(f"{args.checkpoint}: {metrics['bin_us'] / 1000:g} ms bins (kernel size {metrics['kernel_size']}), "
          f"{metrics['n_clips']} clips: filtered accuracy {100 * metrics['filtered_accuracy']:.2f} %, "
          f"mean per-step {100 * metrics['mean_step_accuracy']:.2f} %")
    for row in metrics["latency_table"][::2]:
        print(f"  t = {row['t_ms']:7.1f} ms  accuracy {100 * row['accuracy']:6.2f} %")
    if args.json:
        write_json_atomic(args.json, metrics)
    if args.plot:
        plot_latency({f"{metrics['bin_us'] / 1000:g} ms": (np.asarray(metrics["per_step_accuracy"]),
                                                           metrics["bin_us"])}, args.plot)
    return 0
