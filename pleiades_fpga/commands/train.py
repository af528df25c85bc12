"""``pleiades-fpga train``: train a PLEIADES network on event data; writes checkpoint, metrics, latency plot."""
from __future__ import annotations

import argparse

from pleiades_fpga.argtypes import float_range, int_range, positive_float, positive_int
from pleiades_fpga.data.datasets import DATASETS
from pleiades_fpga.data.synthetic import RESOLUTIONS
from pleiades_fpga.quant.config import MAX_BITS, MIN_BITS

bit_width = int_range(MIN_BITS, MAX_BITS)
seed_value = int_range(0, 2**32 - 1)  # torch and numpy both take it
thread_count = int_range(1, 256)  # torch CPU threads: more than a machine's cores only slows it down


MAX_BIN_MS = 1e6  # 1000 s: far beyond any gesture clip, and a bin size in microseconds that fits an int

bin_ms = float_range(0.0, MAX_BIN_MS, lo_open=True)


def bin_ms_to_us(value: str) -> int:
    """``--bin-ms`` converter: a number of milliseconds in (0, MAX_BIN_MS] that is a whole number of microseconds."""
    us = bin_ms(value) * 1000.0
    if abs(us - round(us)) > 1e-6 * max(1.0, us) or round(us) < 1:
        raise argparse.ArgumentTypeError(f"bin size must be a whole number of microseconds (>= 0.001 ms), "
                                         f"got {value} ms")
    return int(round(us))


def register(subparsers: argparse._SubParsersAction) -> None:
    from pleiades_fpga.model.presets import PRESETS
    from pleiades_fpga.train.config import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train a network (float, or quantization-aware with --quant) and evaluate it",
        description="Train on the synthetic gestures (default) or a local DVS128 Gesture copy. Writes OUT/"
                    "checkpoint.pt, OUT/metrics.json (per-epoch loss/accuracy, per-step accuracy vs latency, "
                    "majority-filtered clip accuracy, wall time) and OUT/latency.png.",
    )
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="event data set (default: synthetic)")
    p.add_argument("--data-root", default=None, help="local DVS128 Gesture directory (for --dataset dvs128)")
    p.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=d.resolution,
                   help="frame size in pixels (default 32)")
    p.add_argument("--bin-ms", type=bin_ms_to_us, default=d.bin_us, dest="bin_us", metavar="MS",
                   help="frame bin size in milliseconds (default 10)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help=f"network preset (default: {d.preset}; with --init the checkpoint's network is used)")
    p.add_argument("--temporal-kind", choices=("pleiades", "free"), default=None,
                   help="override the preset's temporal kernels (free = unstructured baseline)")
    p.add_argument("--temporal", choices=("buffer", "recurrent"), default=None,
                   help="temporal layer implementation: finite-window buffer or recurrent polynomial projection "
                        "(with --init, the checkpoint's layers are converted; default: the preset's/checkpoint's)")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--lr", type=positive_float, default=d.lr, help=f"peak AdamW learning rate (default {d.lr})")
    p.add_argument("--seed", type=seed_value, default=d.seed, help="seed of the data and the training (default 0)")
    p.add_argument("--n-train", type=positive_int, default=None, help="number of training clips")
    p.add_argument("--n-test", type=positive_int, default=None, help="number of test clips")
    p.add_argument("--quant", default=None, metavar="SPEC",
                   help="quantization-aware training: w8a8, w4a4, ... or a TOML/YAML quant config")
    p.add_argument("--wbits", type=bit_width, default=None, metavar="B",
                   help="weight bits (2..8): with --abits a shortcut for --quant wBaA, or overrides the config's default")
    p.add_argument("--abits", type=bit_width, default=None, metavar="B", help="activation bits (2..8), see --wbits")
    p.add_argument("--init", default=None, metavar="CKPT", help="start from this float checkpoint (fine-tune)")
    p.add_argument("--threads", type=thread_count, default=d.threads, help="torch CPU threads (1..256, default 2)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--drop-bad-events", action="store_true",
                   help="dvs128: drop bad events (outside the sensor, bad time or polarity) and report how many, "
                        "instead of refusing the file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.train import TrainConfig, train_model

    if args.init is not None and (args.preset is not None or args.temporal_kind is not None):
        raise PleiadesError("--preset and --temporal-kind choose a new network; with --init the network comes from "
                            "the checkpoint: drop them")

    cfg = TrainConfig(
        dataset=args.dataset, data_root=args.data_root, resolution=args.resolution, bin_us=args.bin_us,
        preset=args.preset or TrainConfig.preset, temporal_kind=args.temporal_kind, temporal=args.temporal,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, n_train=args.n_train, n_test=args.n_test,
        quant=args.quant, wbits=args.wbits, abits=args.abits, init=args.init,
        threads=args.threads, out=args.out, progress=not args.no_progress, drop_bad_events=args.drop_bad_events,
    )
    _, metrics = train_model(cfg)
    test = metrics["test"]
    print(f"test: filtered accuracy {100 * test['filtered_accuracy']:.2f} %, mean per-step accuracy "
          f"{100 * test['mean_step_accuracy']:.2f} % ({test['n_clips']} clips); "
          f"wall time {metrics['seconds']['total']:.0f} s")
    print(f"wrote {args.out}/checkpoint.pt, metrics.json, latency.png")
    return 0
