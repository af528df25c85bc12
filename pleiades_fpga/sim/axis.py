"""AXI-Stream pixel packing and seeded random pause patterns (no simulator needed).

Stream convention of the RTL backend: one beat = one pixel with all channels packed, channel ``c``
at bits ``[c*W +: W]`` (two's complement when signed); pixels in raster order (row-major, x fastest);
``tlast`` on the last pixel of a frame. Frames use the public layout (C, H, W).
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np

from pleiades_fpga.errors import PleiadesError


def pack_pixel(values: Sequence[int] | np.ndarray, width: int, signed: bool = False) -> int:
    """Pack channel values of one pixel into a beat word (channel 0 in the low bits)."""
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    mask = (1 << width) - 1
    word = 0
    for c, v in enumerate(np.asarray(values).ravel().tolist()):
        v = int(v)
        if not lo <= v <= hi:
            raise PleiadesError(f"channel {c}: value {v} does not fit {width}-bit "
                                f"{'signed' if signed else 'unsigned'} ({lo}..{hi})")
        word |= (v & mask) << (c * width)
    return word


def unpack_pixel(word: int, channels: int, width: int, signed: bool = False) -> np.ndarray:
    """Channel values (int64 array of length ``channels``) of a beat word."""
    mask = (1 << width) - 1
    out = np.empty(channels, dtype=np.int64)
    for c in range(channels):
        v = (int(word) >> (c * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out[c] = v
    return out


def pack_frames(ints: np.ndarray, bits: int, signed: bool = False) -> list[int]:
    """Beat words of frames (C, T, H, W): T*H*W words in stream order (vectorized :func:`pack_frame`)."""
    c = ints.shape[0]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if ints.size and (ints.min() < lo or ints.max() > hi):
        raise PleiadesError(f"input values {ints.min()}..{ints.max()} do not fit {bits}-bit "
                            f"{'signed' if signed else 'unsigned'} ({lo}..{hi})")
    lanes = (ints.reshape(c, -1).astype(np.int64) & ((1 << bits) - 1))
    if c * bits <= 63:
        words = np.zeros(lanes.shape[1], dtype=np.int64)
        for ch in range(c):
            words |= lanes[ch] << (ch * bits)
        return words.tolist()
    out = [0] * lanes.shape[1]
    for ch in range(c):
        shift = ch * bits
        out = [w | (int(v) << shift) for w, v in zip(out, lanes[ch].tolist())]
    return out


def pack_frame(frame: np.ndarray, width: int, signed: bool = False) -> list[int]:
    """Beat words (raster order) of one frame of shape (C, H, W)."""
    f = np.asarray(frame)
    if f.ndim != 3:
        raise PleiadesError(f"a frame must have shape (C, H, W), got {f.shape}")
    return pack_frames(f[:, None], width, signed)


def unpack_frame(words: Sequence[int], channels: int, height: int, width_px: int, width: int,
                 signed: bool = False) -> np.ndarray:
    """Frame (C, H, W) from ``height*width_px`` beat words in raster order."""
    if len(words) != height * width_px:
        raise PleiadesError(f"expected {height * width_px} beats for a {height}x{width_px} frame, got {len(words)}")
    out = np.empty((channels, height, width_px), dtype=np.int64)
    for i, word in enumerate(words):
        out[:, i // width_px, i % width_px] = unpack_pixel(word, channels, width, signed)
    return out


def pause_pattern(seed: int, p_pause: float, burst: int = 4) -> Iterator[bool]:
    """Endless seeded pause pattern for cocotbext-axi ``set_pause_generator``.

    Each cycle pauses with probability ``p_pause``; pauses and runs come in random bursts of
    1..``burst`` cycles so that both single-cycle and longer stalls occur. ``p_pause = 0`` never pauses.
    """
    if not 0.0 <= p_pause < 1.0:
        raise PleiadesError(f"p_pause must be in [0, 1), got {p_pause}")
    rng = random.Random(seed)
    while True:
        paused = rng.random() < p_pause
        for _ in range(rng.randint(1, burst)):
            yield paused


__all__ = ["pack_frame", "pack_frames", "pack_pixel", "pause_pattern", "unpack_frame", "unpack_pixel"]
