"""Bad event data (#17): every reader validates before casting (no wrap, no truncation, no shifted clips), time
units are checked, bad events are an error naming the file, the first bad event and the count, or with
``drop_bad_events`` dropped and counted; binning refuses events outside the sensor; request sizes are checked."""
import struct

import numpy as np
import pytest

from pleiades_fpga import cli
from pleiades_fpga.data import (DroppedEventsWarning, EventClips, bin_events, check_request, events_from_columns,
                                load_clips, load_dvs128, make_events, read_aedat31)
from pleiades_fpga.data import binning
from pleiades_fpga.errors import DataFormatError, RequestTooLargeError


def _aedat(path, events):
    """An AEDAT 3.1 file with one polarity packet; events = [(t, x, y, p)] (x, y: 15-bit fields)."""
    words = []
    for t, x, y, p in events:
        words += [(x << 17) | (y << 2) | (p << 1) | 1, t]
    n = len(events)
    header = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    path.write_bytes(header + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n) + struct.pack(f"<{2 * n}I", *words))
    return path


def _tonic(root, arr, name="3.npy"):
    """tonic layout: ibmGestureTest/user01_led/<class>.npy with columns x, y, p, t[ms]."""
    base = root / "ibmGestureTest" / "user01_led"
    base.mkdir(parents=True, exist_ok=True)
    np.save(base / name, np.asarray(arr, dtype=np.float64))
    return base / name


def _good_rows(n, rng):
    t = np.sort(rng.uniform(0, 1500.0, n)).round(3)  # ms with microsecond resolution
    return np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n), t], axis=1)


def test_aedat_coordinate_outside_the_sensor(tmp_path):
    """Finding 2: an x of 200 landed in another pixel."""
    path = _aedat(tmp_path / "a.aedat", [(10, 5, 5, 1), (20, 200, 7, 0), (30, 6, 6, 1), (40, 3, 130, 1)])
    with pytest.raises(DataFormatError) as exc:
        read_aedat31(path)
    msg = str(exc.value)
    assert str(path) in msg and "2 bad event(s) of 4" in msg and "event 1 (t=20, x=200, y=7" in msg
    assert "x is not an integer in 0..127" in msg and "--drop-bad-events" in msg
    with pytest.warns(DroppedEventsWarning, match="dropped 2 bad event"):
        ev = read_aedat31(path, drop_bad_events=True)
    assert ev["t"].tolist() == [10, 30] and ev["x"].tolist() == [5, 6]


def test_aedat_time_going_backwards(tmp_path):
    path = _aedat(tmp_path / "b.aedat", [(10, 1, 1, 1), (30, 2, 2, 1), (20, 3, 3, 0), (40, 4, 4, 0)])
    with pytest.raises(DataFormatError, match=r"1 bad event\(s\) of 4; the first is event [12] .*out of order"):
        read_aedat31(path)


def test_one_timestamp_glitch_costs_one_event(tmp_path):
    """A stale high timestamp before the stream (seen on real cameras) must not drop everything after it."""
    events = [(5_000_000, 1, 1, 1)] + [(10 * k, k % 128, 2, k % 2) for k in range(1, 1000)]
    events.insert(500, (3, 9, 9, 1))  # and one low glitch in the middle
    path = _aedat(tmp_path / "g.aedat", events)
    with pytest.raises(DataFormatError, match=r"2 bad event\(s\) of 1,001; the first is event 0 \(t=5000000"):
        read_aedat31(path)
    with pytest.warns(DroppedEventsWarning, match="dropped 2 bad event"):
        ev = read_aedat31(path, drop_bad_events=True)
    assert ev["t"].tolist() == [10 * k for k in range(1, 1000)]


def test_tonic_coordinate_that_would_wrap(tmp_path):
    """Finding 2: 65541 wrapped to 5 in the int16 cast and passed the range check."""
    rows = _good_rows(50, np.random.default_rng(0))
    rows[7, 0] = 65541
    path = _tonic(tmp_path, rows)
    with pytest.raises(DataFormatError) as exc:
        load_dvs128(tmp_path, "test")
    assert str(path) in str(exc.value) and "event 7" in str(exc.value) and "x=65541" in str(exc.value)


def test_tonic_fractional_coordinate_is_not_truncated(tmp_path):
    rows = _good_rows(50, np.random.default_rng(1))
    rows[3, 1] = 12.5
    _tonic(tmp_path, rows)
    with pytest.raises(DataFormatError, match=r"event 3 .*y=12.5.*y is not an integer"):
        load_dvs128(tmp_path, "test")


def test_tonic_nan_timestamp_no_longer_shifts_the_clip(tmp_path):
    """Finding 2: a NaN timestamp shifted the whole clip so that 1 of 20,000 events remained."""
    rows = _good_rows(20_000, np.random.default_rng(2))
    rows[123, 3] = np.nan
    path = _tonic(tmp_path, rows)
    with pytest.raises(DataFormatError, match=r"1 bad event\(s\) of 20,000; the first is event 123 .*not a finite"):
        load_dvs128(tmp_path, "test")
    with pytest.warns(DroppedEventsWarning, match=f"{path}: dropped 1 bad event"):
        clips, labels = load_dvs128(tmp_path, "test", drop_bad_events=True)
    good = np.delete(rows, 123, axis=0)
    assert labels == [3] and len(clips[0]) == 19_999
    want_t = np.round(good[:, 3] * 1000).astype(np.int64)
    np.testing.assert_array_equal(clips[0]["t"], want_t - want_t[0])
    np.testing.assert_array_equal(clips[0]["x"], good[:, 0])
    # and as a dataset: all 19,999 events land in the 1.5 s of frames
    with pytest.warns(DroppedEventsWarning):
        data = load_clips("dvs128", "test", 128, root=str(tmp_path), progress=False, drop_bad_events=True)
    assert int(data.frames(10_000).sum()) == np.count_nonzero(want_t - want_t[0] < 1_500_000)


@pytest.mark.parametrize("column,value,reason", [(2, -1, "polarity"), (2, 2, "polarity"), (2, 0.5, "polarity"),
                                                  (0, -3, "x is not"), (1, 128, "y is not"),
                                                  (3, np.inf, "not a finite"),
                                                  (3, -2.0, "negative: a corrupt time field")])
def test_tonic_each_defect_is_named(tmp_path, column, value, reason):
    rows = _good_rows(30, np.random.default_rng(3))
    rows[11, column] = value
    _tonic(tmp_path, rows)
    with pytest.raises(DataFormatError, match=f"event 11 .*{reason}"):
        load_dvs128(tmp_path, "test")


def test_time_unit_detection(tmp_path):
    rows = _good_rows(400, np.random.default_rng(4))
    seconds = rows.copy()
    seconds[:, 3] = rows[:, 3] / 1000.0  # the time column in seconds instead of milliseconds
    _tonic(tmp_path / "s", seconds)
    with pytest.raises(DataFormatError, match="not whole microseconds .* larger unit \\(seconds\\?\\)"):
        load_dvs128(tmp_path / "s", "test", drop_bad_events=True)  # a unit error is never dropped
    micro = rows.copy()
    micro[:, 3] = rows[:, 3] * 1000.0  # in microseconds instead of milliseconds: a 1.5 s clip spans 25 min
    _tonic(tmp_path / "u", micro)
    with pytest.raises(DataFormatError, match="smaller unit \\(microseconds\\?\\)"):
        load_dvs128(tmp_path / "u", "test")


def test_events_from_columns_generic():
    ev, dropped = events_from_columns([0.0, 1.0, 2.0], [1, 2, 3], [0, 0, 1], [1, 0, 1], height=2, width=4,
                                      source="arr")
    assert dropped == 0 and ev["t"].tolist() == [0, 1, 2] and ev["y"].tolist() == [0, 0, 1]
    # x=9 is outside: dropped, and it does not make the later t=3 out of order
    ev, dropped = events_from_columns([0, 5, 3, 9], [1, 9, 2, 3], [0, 0, 1, 1], [1, 0, 1, 1], height=2, width=4,
                                      source="arr", drop_bad=True)
    assert dropped == 1 and ev["t"].tolist() == [0, 3, 9]
    # all inside: t=5 and t=3 are out of order, one of them is dropped
    ev, dropped = events_from_columns([0, 5, 3, 9], [1, 1, 2, 3], [0, 0, 1, 1], [1, 0, 1, 1], height=2, width=4,
                                      source="arr", drop_bad=True)
    assert dropped == 1 and ev["t"].tolist() in ([0, 5, 9], [0, 3, 9])
    with pytest.raises(DataFormatError, match="1-D and of one length"):
        events_from_columns([0, 1], [0], [0], [0], height=2, width=2, source="arr")
    with pytest.raises(DataFormatError, match="timestamps must be numbers"):
        events_from_columns(np.array(["a"]), [0], [0], [0], height=2, width=2, source="arr")


def test_binning_refuses_events_outside_the_sensor():
    """Finding 2 at the binning stage: x = 40 on a 32-wide sensor landed in the next row."""
    ev = make_events([0, 10], [3, 40], [0, 0], [1, 1])
    with pytest.raises(DataFormatError, match="outside the 32x32 sensor.*event 1 .*x=40"):
        bin_events(ev, 100, 32, 32, n_frames=1)
    ev = make_events([0], [3], [0], [1])
    ev["p"] = 3
    with pytest.raises(DataFormatError, match="polarity"):
        bin_events(ev, 100, 32, 32, n_frames=1)


def test_request_size_check_names_the_figure(monkeypatch):
    with pytest.raises(RequestTooLargeError, match=r"800 clips x 2 channels x 1,000,000 frames x 32x32 pixels"):
        check_request("x", 800, 2, 1_000_000, 32, 32)
    monkeypatch.setattr(binning, "memory_budget_bytes", lambda: 1000)
    clips = EventClips("toy", "test", [make_events([5], [0], [0], [1])] * 3, np.array([0, 0, 0]), ("a",), 4, 4,
                       1_000_000)
    with pytest.raises(RequestTooLargeError, match="toy/test frames at 10 ms bins: 3 clips"):
        clips.frames(10_000)  # 3 * 2 * 100 * 16 bytes > 1000: refused before allocating
    with pytest.raises(RequestTooLargeError, match="binning events"):
        bin_events(make_events([10**9], [0], [0], [1]), 1, 4, 4)  # one event at 1000 s in 1 us bins


def test_train_cli_names_the_bad_file_or_drops(tmp_path, capsys):
    rows = _good_rows(200, np.random.default_rng(5))
    rows[9, 0] = 300
    path = _tonic(tmp_path, rows)
    _tonic(tmp_path, _good_rows(200, np.random.default_rng(6)), name="4.npy")
    train_dir = tmp_path / "ibmGestureTrain" / "user02_led"
    train_dir.mkdir(parents=True)
    np.save(train_dir / "1.npy", _good_rows(200, np.random.default_rng(7)))
    argv = ["train", "--dataset", "dvs128", "--data-root", str(tmp_path), "--resolution", "32", "--preset", "tiny",
            "--epochs", "1", "--no-progress", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and "event 9" in err and "x=300" in err
    with pytest.warns(DroppedEventsWarning, match=f"{path}: dropped 1 bad event"):
        assert cli.main(argv + ["--drop-bad-events"]) == 0


@pytest.mark.parametrize("name", ["1_0.npy", "\u0663.npy", "03a.npy"])
def test_tonic_class_file_names_are_ascii_numbers(tmp_path, name):
    """int() would read "1_0" as 10 and an Arabic-Indic digit as 3: such names are refused."""
    _tonic(tmp_path, _good_rows(20, np.random.default_rng(9)), name=name)
    with pytest.raises(DataFormatError, match="file name must be the class number"):
        load_dvs128(tmp_path, "test")


def test_a_split_without_clips_is_an_error(tmp_path):
    _tonic(tmp_path, _good_rows(20, np.random.default_rng(8)), name="10.npy")  # only "other"
    with pytest.raises(DataFormatError, match="test split has no clips"):
        load_clips("dvs128", "test", 32, root=str(tmp_path), progress=False)


def test_a_label_interval_without_events_is_an_error(tmp_path):
    _aedat(tmp_path / "user01_led.aedat", [(10 * k, 1, 1, 1) for k in range(100)])
    (tmp_path / "user01_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,500\n2,90000,95000\n")
    (tmp_path / "trials_to_train.txt").write_text("user01_led.aedat\n")
    with pytest.raises(DataFormatError, match="user01_led_labels.csv: gesture 2 at 90000..95000 us selects no events"):
        load_dvs128(tmp_path, "train")


def test_files_without_events_are_errors(tmp_path):
    _tonic(tmp_path, np.zeros((0, 4)))
    with pytest.raises(DataFormatError, match="3.npy: no events; a recording or gesture clip must have events"):
        load_dvs128(tmp_path, "test")
    rows = _good_rows(5, np.random.default_rng(9))
    rows[:, 0] = 500
    _tonic(tmp_path, rows)
    with pytest.raises(DataFormatError, match="no events left after dropping 5 bad ones"):
        load_dvs128(tmp_path, "test", drop_bad_events=True)
    with pytest.raises(DataFormatError, match="a.aedat: no events"):
        read_aedat31(_aedat(tmp_path / "a.aedat", []))


def test_uint64_timestamps_past_2_63_are_refused_without_numpy_warnings():
    """uint64 times >= 2**63 wrapped to negative int64 (passing the range check) and printed a RuntimeWarning."""
    import warnings

    t = np.array([5, 2**63, 2**64 - 1], dtype=np.uint64)
    z = np.zeros(3, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataFormatError, match=r"2 bad event\(s\) of 3; the first is event 1 .*not a finite number "
                                                  r"in 0..2\*\*62 us.*pass --drop-bad-events to drop") as exc:
            events_from_columns(t, z, z, z + 1, height=128, width=128, source="f")
        assert "drop_bad_events=True" not in str(exc.value)  # the CLI flag, not the API keyword
        ev, dropped = events_from_columns(t, z, z, z + 1, height=128, width=128, source="f", drop_bad=True)
    assert dropped == 2 and ev["t"].tolist() == [5]


def test_text_file_saved_as_npy_is_not_an_event_array(tmp_path):
    path = _tonic(tmp_path, _good_rows(3, np.random.default_rng(1)))
    path.write_text("x,y,p,t\n1,2,1,0.5\n")
    with pytest.raises(DataFormatError, match=r"3.npy: not a numpy event array \(no .npy header") as exc:
        load_dvs128(tmp_path, "test")
    assert "pickled" not in str(exc.value)
