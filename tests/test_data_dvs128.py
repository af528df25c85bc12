"""DVS128 Gesture loaders on tiny files written here (AEDAT 3.1 + labels CSV, and tonic's npy layout)."""
import struct

import numpy as np
import pytest

from pleiades_fpga.data import load_clips, load_dvs128, read_aedat31, read_labels_csv
from pleiades_fpga.errors import DataFormatError, PleiadesError


def _packet(etype, events, overflow=0, valid=None):
    """AEDAT 3.1 packet: 28-byte header + (data, timestamp) pairs; events = [(t, x, y, p)]."""
    words = []
    for i, (t, x, y, p) in enumerate(events):
        v = 1 if valid is None else valid[i]
        words += [(x << 17) | (y << 2) | (p << 1) | v, t]
    n = len(events)
    return struct.pack("<hhiiiiii", etype, 1, 8, 4, overflow, n, n, n) + struct.pack(f"<{2 * n}I", *words)


def _write_aedat(path, packets):
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017\r\n#!END-HEADER\r\n"
    path.write_bytes(header + b"".join(packets))


def _original_copy(root):
    """Two recordings; user01 has classes 1 and 11 (other), user02 class 5."""
    ev1 = [(1000 * k, k % 128, (3 * k) % 128, k % 2) for k in range(1, 60)]
    _write_aedat(root / "user01_led.aedat", [
        _packet(1, ev1[:30]),
        _packet(0, [(5, 0, 0, 0)]),  # a special-event packet: skipped
        _packet(1, ev1[30:], valid=[1] * 28 + [0]),  # last event invalid: dropped
    ])
    (root / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,10000,20000\n11,30000,40000\n")
    _write_aedat(root / "user02_fluorescent.aedat", [_packet(1, [(100 + k, 5, 6, 1) for k in range(10)])])
    (root / "user02_fluorescent_labels.csv").write_text("class,startTime_usec,endTime_usec\n5,103,107\n")
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n\n")
    (root / "trials_to_test.txt").write_text("user02_fluorescent.aedat\n")
    return ev1


def test_read_aedat31_decodes_fields_and_skips_invalid(tmp_path):
    ev = _original_copy(tmp_path)
    got = read_aedat31(tmp_path / "user01_led.aedat")
    assert len(got) == len(ev) - 1
    want = np.array(ev[:-1])
    np.testing.assert_array_equal(got["t"], want[:, 0])
    np.testing.assert_array_equal(got["x"], want[:, 1])
    np.testing.assert_array_equal(got["y"], want[:, 2])
    np.testing.assert_array_equal(got["p"], want[:, 3])


def test_timestamp_overflow(tmp_path):
    _write_aedat(tmp_path / "a.aedat", [_packet(1, [(7, 1, 2, 1)], overflow=3)])
    assert read_aedat31(tmp_path / "a.aedat")["t"][0] == 3 * 2**31 + 7


def test_original_layout_clips(tmp_path):
    ev = _original_copy(tmp_path)
    clips, labels = load_dvs128(tmp_path, "train")
    assert labels == [0]  # class 1 -> 0; class 11 ("other") dropped
    want = [e for e in ev if 10000 <= e[0] < 20000]
    assert len(clips[0]) == len(want)
    np.testing.assert_array_equal(clips[0]["t"], [e[0] - 10000 for e in want])
    np.testing.assert_array_equal(clips[0]["x"], [e[1] for e in want])
    clips, labels = load_dvs128(tmp_path, "train", include_other=True)
    assert labels == [0, 10]
    clips, labels = load_dvs128(tmp_path, "test")
    assert labels == [4] and list(clips[0]["t"]) == [0, 1, 2, 3]


def test_original_layout_in_subfolder_and_as_dataset(tmp_path):
    (tmp_path / "DvsGesture").mkdir()
    _original_copy(tmp_path / "DvsGesture")
    clips = load_clips("dvs128", "train", resolution=32, root=str(tmp_path), progress=False)
    assert clips.height == 32 and list(clips.labels) == [0]
    assert clips.events[0]["x"].max() < 32  # 128 -> 32 by integer pooling
    f = clips.frames(10_000)
    assert f.shape == (1, 2, 150, 32, 32) and int(f.sum()) == len(clips.events[0])


def _tonic_copy(root):
    base = root / "DVSGesture" / "ibmGestureTest" / "user24_led"
    base.mkdir(parents=True)
    arr = np.array([[3, 4, 1, 0.5], [5, 6, 0, 1.25], [127, 0, 1, 2.0]], dtype=np.float64)  # x, y, p, t[ms]
    np.save(base / "2.npy", arr)
    np.save(base / "10.npy", arr)  # "other": dropped
    return arr


def test_tonic_layout(tmp_path):
    _tonic_copy(tmp_path)
    clips, labels = load_dvs128(tmp_path, "test")
    assert labels == [2]
    ev = clips[0]
    assert list(ev["t"]) == [0, 750, 1500] and list(ev["x"]) == [3, 5, 127] and list(ev["p"]) == [1, 0, 1]
    clips, labels = load_dvs128(tmp_path / "DVSGesture", "test", include_other=True)
    assert sorted(labels) == [2, 10]


def test_missing_files_give_clear_errors(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_dvs128(tmp_path / "nope", "train")
    with pytest.raises(DataFormatError, match="trials_to_train"):
        load_dvs128(tmp_path, "train")
    _original_copy(tmp_path)
    (tmp_path / "user02_fluorescent_labels.csv").unlink()
    with pytest.raises(DataFormatError, match="label file not found"):
        load_dvs128(tmp_path, "test")
    (tmp_path / "trials_to_test.txt").write_text("user03_led.aedat\n")
    with pytest.raises(DataFormatError, match="user03_led.aedat"):
        load_dvs128(tmp_path, "test")
    with pytest.raises(PleiadesError, match="split"):
        load_dvs128(tmp_path, "val")
    with pytest.raises(PleiadesError, match="data-root"):
        load_clips("dvs128", "train", progress=False)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.aedat"
    bad.write_bytes(b"#!AER-DAT2.0\r\n")
    with pytest.raises(DataFormatError, match="AEDAT 3"):
        read_aedat31(bad)
    _write_aedat(bad, [_packet(1, [(1, 2, 3, 1), (2, 2, 3, 0)])[:-4]])  # truncated last event
    with pytest.raises(DataFormatError, match="truncated"):
        read_aedat31(bad)
    bad.write_bytes(b"#!AER-DAT3.1\r\n#no end of header\r\n")
    with pytest.raises(DataFormatError, match="END-HEADER"):
        read_aedat31(bad)
    csv = tmp_path / "x_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n1,abc,5\n")
    with pytest.raises(DataFormatError, match="line 2"):
        read_labels_csv(csv)
    csv.write_text("class,startTime_usec,endTime_usec\n12,1,5\n")
    with pytest.raises(DataFormatError, match="1..11"):
        read_labels_csv(csv)
    arr = _tonic_copy(tmp_path)
    np.save(tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led" / "2.npy", arr[:, :3])
    with pytest.raises(DataFormatError, match="N, 4"):
        load_dvs128(tmp_path, "test")
