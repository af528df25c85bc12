"""``pleiades-fpga host build/NAME --port DEV --baud B --frames FILE``: stream frames to the board, read the logits.

The board runs the bitstream of ``build/NAME`` (``synth --program``); its UART bridge takes the input integers of
each frame (the design's input quantizer applied to the event counts of FILE) and answers with the frame's logits
(docs/BOARDS.md). The logits are compared with the golden model of the same design (from reset: press FIRE1
before a run) unless ``--no-check``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pleiades_fpga.argtypes import float_range, int_range
from pleiades_fpga.errors import PleiadesError


def register(subparsers) -> None:
    """Add the ``host`` subcommand."""
    p = subparsers.add_parser(
        "host", help="stream frames to the board's UART bridge and read the logits back (pyserial)",
        description="Send the frames of a .npy file (event counts, shape (channels, T, height, width)) to the board "
                    "running build/NAME's bitstream and read one logits vector per frame; the board must be reset "
                    "(FIRE1) before a run so that it starts, like the golden model, from the zero state.")
    p.add_argument("build_dir", help="build directory of the design the board runs (manifest.json, model.onnx)")
    p.add_argument("--port", required=True, help="serial port of the board (ULX3S: /dev/ttyUSB0 on Linux)")
    p.add_argument("--baud", type=int_range(300, 3_000_000), default=None,
                   help="baud rate the bitstream was built with (synth --baud, at most 3,000,000; default: the one "
                        "recorded with build/NAME's ULX3S bitstream, else 115200)")
    p.add_argument("--frames", required=True, help=".npy event counts (channels, T, height, width)")
    p.add_argument("--out", default=None, help="write the logits (T, classes) integers to this .npy file")
    p.add_argument("--timeout", type=float_range(0.0, lo_open=True), default=5.0, help="seconds to wait for a frame's logits")
    p.add_argument("--no-check", action="store_true", help="do not compare with the golden model")
    p.set_defaults(func=run)


def board_baud(build_dir: str | Path, board: str = "ulx3s-85f") -> int | None:
    """The baud rate ``synth --baud`` built build_dir's bitstream for, when that bitstream is of the current design."""
    from pleiades_fpga.artifacts import STAMP, dir_is_current

    out = Path(build_dir) / "board" / board
    if not (out / STAMP).is_file() or not dir_is_current(out, build_dir):
        return None
    try:
        baud = json.loads((out / STAMP).read_text()).get("baud")
    except (OSError, ValueError):
        return None
    return baud if isinstance(baud, int) and not isinstance(baud, bool) else None


def load_frames(path: str | Path, manifest: dict) -> np.ndarray:
    """Event counts (C, T, H, W) from a .npy file, checked against the design's input shape."""
    from pleiades_fpga.paths import check_input_file

    path = check_input_file(path, "--frames")
    try:
        frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PleiadesError(f"--frames {path} is not a numpy .npy array ({exc}); save the counts with numpy.save") \
            from None
    inp = manifest["input"]
    want = (int(inp["channels"]), int(inp["height"]), int(inp["width"]))
    if frames.ndim != 4 or (frames.shape[0], *frames.shape[2:]) != want or frames.shape[1] < 1:
        raise PleiadesError(f"--frames {path} has shape {frames.shape}; the design takes (channels, T, height, width) "
                            f"= ({want[0]}, T, {want[1]}, {want[2]}) event counts")
    if not np.issubdtype(frames.dtype, np.number) or not np.all(np.isfinite(frames)) or frames.min() < 0:
        raise PleiadesError(f"--frames {path} must hold finite, non-negative event counts")
    return frames


def stream_to_board(build_dir: str | Path, port: str, baud: int, frames: np.ndarray, timeout: float = 5.0,
                    progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Send ``frames`` (C, T, H, W counts) to the board over ``port``; return (logits (T, classes) int64 from the
    board, the golden model's logits for the same frames from reset)."""
    from tqdm import tqdm

    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.sim.axis import pack_frames, unpack_pixel
    from pleiades_fpga.toolflow.boards.host import BridgeLink, BridgeProtocol

    manifest = load_manifest(build_dir)
    golden = GoldenModel.from_qonnx(Path(build_dir) / "model.onnx")
    inp, out = manifest["input"], manifest["output"]
    ints = golden.quantize_input(np.asarray(frames, dtype=np.float32)[None])[0]
    words = pack_frames(ints, int(inp["bits"]), bool(inp.get("signed")))
    proto = BridgeProtocol.from_manifest(manifest)
    n = proto.frame_pixels
    logits = []
    with BridgeLink(port, baud, proto, timeout=timeout) as link:
        for t in tqdm(range(frames.shape[1]), desc="frames", unit="frame", disable=not progress):
            word = link.frame(words[t * n:(t + 1) * n])
            logits.append(unpack_pixel(word, int(out["channels"]), int(out["bits"]), bool(out.get("signed"))))
    expected = golden.run(np.asarray(frames, dtype=np.float32)[None])[0].T
    return np.asarray(logits, dtype=np.int64), np.asarray(expected, dtype=np.int64)


def run(args: argparse.Namespace) -> int:
    """Stream the frames, print the class per frame and the comparison with the golden model."""
    from pleiades_fpga.paths import check_output_file
    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.boards.host import check_baud

    manifest = load_manifest(args.build_dir)
    baud = check_baud(args.baud or board_baud(args.build_dir) or 115200)
    frames = load_frames(args.frames, manifest)
    if args.out:
        check_output_file(args.out, "--out", inputs=[args.frames])
    print(f"{args.port} at {baud:,} baud")
    logits, expected = stream_to_board(args.build_dir, args.port, baud, frames, timeout=args.timeout)
    for t, row in enumerate(logits):
        print(f"frame {t}: class {int(np.argmax(row))}  logits {' '.join(map(str, row.tolist()))}")
    if args.out:
        np.save(args.out, logits)
        print(f"wrote {args.out}")
    if args.no_check:
        return 0
    bad = int(np.count_nonzero(logits != expected))
    print(f"golden model: {bad} mismatching of {logits.size} logits over {len(logits)} frames"
          + ("" if bad else " (bit-exact)"))
    return 0 if bad == 0 else 1
