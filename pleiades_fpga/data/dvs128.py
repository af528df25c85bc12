"""DVS128 Gesture loaders for a user's local copy (no download).

Two on-disk layouts are read:

* the original IBM release: ``userXX_<lighting>.aedat`` (AEDAT 3.1) with ``userXX_<lighting>_labels.csv``
  (``class,startTime_usec,endTime_usec``, classes 1..11) and ``trials_to_train.txt`` /
  ``trials_to_test.txt`` listing the .aedat files of each split (directly in ``root`` or in ``root/DvsGesture``);
* tonic's pre-cut layout: ``[DVSGesture/]ibmGestureTrain|ibmGestureTest/userXX_<lighting>/<class>.npy``, each an
  (N, 4) array with columns x, y, p, t (t in milliseconds, classes 0..10).

AEDAT 3.1: ASCII header lines starting with ``#`` (the first ``#!AER-DAT3.1``, the last ``#!END-HEADER``), then
packets of a 28-byte little-endian header (int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid) followed by eventCapacity events
of eventSize bytes. Polarity events (type 1, 8 bytes): uint32 data (bit 0 valid, bit 1 polarity, bits 2-16 y,
bits 17-31 x) and int32 timestamp (microseconds; the full time is ``eventTSOverflow << 31 | timestamp``).

Every file is validated in file order before its columns are cast (`events_from_columns`: inside 128x128,
finite non-decreasing whole-microsecond time, polarity 0/1, the time unit); a bad event is an error naming
the file, or with ``drop_bad_events`` dropped and counted in a `DroppedEventsWarning`.
"""
from __future__ import annotations

import csv
import re
import struct
import warnings
from pathlib import Path

import numpy as np

from pleiades_fpga.data.events import events_from_columns
from pleiades_fpga.errors import DataFormatError, PleiadesError

DVS128_CLASS_NAMES: tuple[str, ...] = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
DVS128_SIZE = 128
MAX_CLIP_US = 600_000_000  # a pre-cut gesture clip lasts seconds; 10 min means the time unit is wrong
OTHER_CLASS = 10
POLARITY_EVENT = 1
_PACKET_HEADER = struct.Struct("<hhiiiiii")


class DroppedEventsWarning(UserWarning):
    """Bad events were dropped from an event file (``drop_bad_events=True``); the message has the count."""


def _validated(t, x, y, p, source: str, t_unit_us: int, drop_bad_events: bool, max_span_us: int | None = None):
    """`events_from_columns` on a 128x128 DVS128 file; dropped events are reported as a `DroppedEventsWarning`."""
    ev, dropped = events_from_columns(t, x, y, p, height=DVS128_SIZE, width=DVS128_SIZE, source=source,
                                      t_unit_us=t_unit_us, drop_bad=drop_bad_events, max_span_us=max_span_us)
    if not len(ev):
        raise DataFormatError(f"{source}: no events" + (f" left after dropping {dropped:,} bad ones" if dropped else "")
                              + "; a recording or gesture clip must have events (is the file complete?)")
    if dropped:
        warnings.warn(f"{source}: dropped {dropped:,} bad event(s) of {dropped + len(ev):,}", DroppedEventsWarning,
                      stacklevel=3)
    return ev


def read_aedat31(path: str | Path, drop_bad_events: bool = False) -> np.ndarray:
    """All valid polarity events of an AEDAT 3.1 file (other packet types are skipped), validated in file order
    (coordinates inside 128x128, time non-decreasing; see `events_from_columns`)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"AEDAT file not found: {path}")
    data = path.read_bytes()
    if not data.startswith(b"#!AER-DAT3"):
        raise DataFormatError(f"{path} is not an AEDAT 3.x file (first line must start with '#!AER-DAT3')")
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise DataFormatError(f"{path}: header has no '#!END-HEADER' line")
        line = data[pos:end].strip()
        pos = end + 1
        if line == b"#!END-HEADER":
            break
        if not line.startswith(b"#"):
            raise DataFormatError(f"{path}: header line without '#' before '#!END-HEADER': {line[:40]!r}")
    chunks = []
    while pos < len(data):
        if pos + _PACKET_HEADER.size > len(data):
            raise DataFormatError(f"{path}: truncated packet header at byte {pos}")
        etype, _src, esize, _tsoff, overflow, capacity, _number, _valid = _PACKET_HEADER.unpack_from(data, pos)
        pos += _PACKET_HEADER.size
        nbytes = capacity * esize
        if esize <= 0 or capacity < 0 or pos + nbytes > len(data):
            raise DataFormatError(f"{path}: malformed or truncated packet (type {etype}, size {esize}, "
                                  f"capacity {capacity}) at byte {pos - _PACKET_HEADER.size}")
        if etype == POLARITY_EVENT:
            if esize != 8:
                raise DataFormatError(f"{path}: polarity events must be 8 bytes, got {esize}")
            raw = np.frombuffer(data, dtype="<u4", count=2 * capacity, offset=pos).reshape(capacity, 2)
            word, ts = raw[:, 0], raw[:, 1].astype(np.int64)
            valid = (word & 1).astype(bool)
            t = ts | (np.int64(overflow) << 31)
            w = word[valid].astype(np.int64)
            chunks.append(np.stack([t[valid], (w >> 17) & 0x7FFF, (w >> 2) & 0x7FFF, (w >> 1) & 1]))
        pos += nbytes
    t, x, y, p = np.concatenate(chunks, axis=1) if chunks else np.zeros((4, 0), dtype=np.int64)
    return _validated(t, x, y, p, str(path), 1, drop_bad_events)


def read_labels_csv(path: str | Path) -> list[tuple[int, int, int]]:
    """Rows (class 1..11, start_us, end_us) of a DVS128 Gesture ``*_labels.csv`` file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"label file not found: {path} (expected next to its .aedat file)")
    rows = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or not "".join(row).strip():
                continue
            if i == 0 and not row[0].strip().lstrip("-").isdigit():
                continue  # header line: class,startTime_usec,endTime_usec
            try:
                cls, start, end = (int(v) for v in row[:3])
            except ValueError as exc:
                raise DataFormatError(f"{path}, line {i + 1}: expected 'class,startTime_usec,endTime_usec', "
                                      f"got {row!r}") from exc
            if not 1 <= cls <= 11 or end <= start:
                raise DataFormatError(f"{path}, line {i + 1}: class must be 1..11 and end > start, got {row!r}")
            rows.append((cls, start, end))
    return rows


def _aedat_root(root: Path) -> Path | None:
    for cand in (root, root / "DvsGesture"):
        if (cand / "trials_to_train.txt").is_file() or (cand / "trials_to_test.txt").is_file():
            return cand
    return None


def _tonic_root(root: Path, split: str) -> Path | None:
    name = "ibmGestureTrain" if split == "train" else "ibmGestureTest"
    for cand in (root / name, root / "DVSGesture" / name):
        if cand.is_dir():
            return cand
    return None


def load_dvs128_aedat(root: str | Path, split: str, include_other: bool = False,
                      drop_bad_events: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Clips (events with t relative to the label start, label 0..10) of the original AEDAT layout."""
    base = _aedat_root(Path(root))
    if base is None:
        raise DataFormatError(f"no trials_to_train.txt / trials_to_test.txt in {root} or {root}/DvsGesture")
    listing = base / f"trials_to_{split}.txt"
    if not listing.is_file():
        raise DataFormatError(f"missing {listing} (lists the .aedat files of the {split} split)")
    clips, labels = [], []
    names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    if not names:
        raise DataFormatError(f"{listing} lists no .aedat files")
    for name in names:
        aedat = base / name
        events = read_aedat31(aedat, drop_bad_events)
        for cls, start, end in read_labels_csv(aedat.with_name(aedat.stem + "_labels.csv")):
            label = cls - 1
            if label == OTHER_CLASS and not include_other:
                continue
            lo, hi = np.searchsorted(events["t"], [start, end])
            if hi == lo:
                span = f"{events['t'][0]}..{events['t'][-1]} us" if events.size else "no events"
                raise DataFormatError(f"{aedat.stem}_labels.csv: gesture {cls} at {start}..{end} us selects no events "
                                      f"of {aedat} ({span}); check that the labels belong to this recording")
            clip = events[lo:hi].copy()
            clip["t"] -= start
            clips.append(clip)
            labels.append(label)
    return clips, labels


def load_dvs128_tonic(root: str | Path, split: str, include_other: bool = False,
                      drop_bad_events: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Clips (events with t relative to the first event, label 0..10) of tonic's npy layout."""
    base = _tonic_root(Path(root), split)
    if base is None:
        raise DataFormatError(f"no ibmGesture{'Train' if split == 'train' else 'Test'} folder in {root} "
                              f"or {root}/DVSGesture")
    clips, labels = [], []
    files = sorted(base.glob("*/*.npy"))
    if not files:
        raise DataFormatError(f"{base} holds no <user>/<class>.npy files")
    for f in files:
        if not re.fullmatch(r"[0-9]+", f.stem):  # int() would also take "1_0" or non-ASCII digits
            raise DataFormatError(f"{f}: file name must be the class number 0..10 (e.g. 3.npy)")
        label = int(f.stem)
        if not 0 <= label <= OTHER_CLASS:
            raise DataFormatError(f"{f}: class {label} outside 0..10")
        if label == OTHER_CLASS and not include_other:
            continue
        with open(f, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise DataFormatError(f"{f}: not a numpy event array (no .npy header; write the (N, 4) events of "
                                      "x, y, p, t[ms] with numpy.save)")
        try:
            arr = np.load(f)
        except (ValueError, OSError) as exc:
            raise DataFormatError(f"{f}: not a readable .npy file ({exc})") from exc
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DataFormatError(f"{f}: expected an (N, 4) array of x, y, p, t[ms], got shape {arr.shape}")
        ev = _validated(arr[:, 3], arr[:, 0], arr[:, 1], arr[:, 2], str(f), 1000, drop_bad_events, MAX_CLIP_US)
        if ev.size:
            ev["t"] -= ev["t"][0]
        clips.append(ev)
        labels.append(label)
    return clips, labels


def load_dvs128(root: str | Path, split: str, include_other: bool = False,
                drop_bad_events: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Clips and labels of a local DVS128 Gesture copy in either layout (detected from the files present).

    Bad events (see `events_from_columns`) are an error naming the file, or with ``drop_bad_events`` dropped,
    each file's count reported as a `DroppedEventsWarning`."""
    if split not in ("train", "test"):
        raise PleiadesError(f"DVS128 split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"DVS128 Gesture directory not found: {root}")
    if _aedat_root(root) is not None:
        return load_dvs128_aedat(root, split, include_other, drop_bad_events)
    if _tonic_root(root, split) is not None:
        return load_dvs128_tonic(root, split, include_other, drop_bad_events)
    raise DataFormatError(
        f"{root} is not a DVS128 Gesture copy: expected trials_to_{split}.txt with userXX_*.aedat files "
        f"(original layout, also under DvsGesture/) or ibmGesture{'Train' if split == 'train' else 'Test'}/"
        f"<user>/<class>.npy (tonic layout, also under DVSGesture/)"
    )
