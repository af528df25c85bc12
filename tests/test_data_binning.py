"""Binning of events to (2, T, H, W) count frames: naive-loop reference, 5 ms vs 10 ms consistency."""
import numpy as np
import pytest
import torch

from pleiades_fpga.data import EVENT_DTYPE, bin_events, load_clips, make_events, n_bins
from pleiades_fpga.errors import PleiadesError


def _random_events(seed, n=3000, duration=100_000, h=6, w=5):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, duration, n), rng.integers(0, w, n), rng.integers(0, h, n),
                       rng.integers(0, 2, n))


def _naive(events, bin_us, h, w, t_frames, t0=0):
    out = np.zeros((2, t_frames, h, w))
    for e in events:
        k = (int(e["t"]) - t0) // bin_us
        if 0 <= k < t_frames:
            out[int(e["p"]), k, int(e["y"]), int(e["x"])] += 1
    return out


@pytest.mark.parametrize("bin_us,t0", [(10_000, 0), (5_000, 0), (7_000, 1_500), (1_000, 0)])
def test_matches_naive_loop(bin_us, t0):
    ev = _random_events(bin_us)
    frames = bin_events(ev, bin_us, 6, 5, n_frames=9, t0=t0)
    assert frames.shape == (2, 9, 6, 5)
    np.testing.assert_array_equal(frames, _naive(ev, bin_us, 6, 5, 9, t0))


def test_channel_order_off_then_on():
    ev = make_events([0, 10, 20], [1, 2, 2], [0, 1, 1], [0, 1, 1])
    f = bin_events(ev, 100, 2, 3, n_frames=1)
    assert f[0, 0, 0, 1] == 1 and f[1, 0, 1, 2] == 2 and f.sum() == 3


def test_default_frame_count_and_dropping():
    ev = make_events([-5, 0, 25_000, 99_999], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1])
    assert bin_events(ev, 10_000, 1, 1).shape[1] == 10  # up to the last event
    assert bin_events(ev, 10_000, 1, 1, n_frames=3).sum() == 2  # t=-5 and t>=30 ms dropped


def test_pairs_of_5ms_bins_sum_to_10ms_bins():
    ev = _random_events(11, n=5000, duration=200_000)
    f5 = bin_events(ev, 5_000, 6, 5, n_frames=40)
    f10 = bin_events(ev, 10_000, 6, 5, n_frames=20)
    np.testing.assert_array_equal(f5[:, 0::2] + f5[:, 1::2], f10)
    assert f10.sum() == len(ev)


def test_bad_bin_size():
    ev = np.zeros(3, dtype=EVENT_DTYPE)
    with pytest.raises(PleiadesError):
        bin_events(ev, 0, 4, 4)
    with pytest.raises(PleiadesError):
        n_bins(1_000_000, -5)


def test_clip_frames_tensor():
    clips = load_clips("synthetic", "test", 32, n_clips=4, seed=2, progress=False)
    f10, f5 = clips.frames(10_000), clips.frames(5_000)
    assert f10.shape == (4, 2, 100, 32, 32) and f5.shape == (4, 2, 200, 32, 32)
    assert f10.dtype in (torch.uint8, torch.int16)
    torch.testing.assert_close(f5[:, :, 0::2].int() + f5[:, :, 1::2].int(), f10.int())
    for i in range(4):
        assert int(f10[i].sum()) == len(clips.events[i])  # every event of a 1 s clip lands in a frame
    with pytest.raises(PleiadesError):
        clips.frames(2_000_000)


def test_clip_frames_widen_when_counts_exceed_a_byte():
    from pleiades_fpga.data import EventClips

    quiet = make_events([5] * 3, [0, 0, 0], [0, 0, 0], [1, 1, 1])
    busy = make_events(np.arange(300), np.ones(300, int), np.zeros(300, int), np.zeros(300, int))
    clips = EventClips("toy", "test", [quiet, busy], np.array([0, 1]), ("a", "b"), 2, 2, 1_000)
    f = clips.frames(1_000)
    assert f.dtype == torch.int16 and f.shape == (2, 2, 1, 2, 2)
    assert int(f[0, 1, 0, 0, 0]) == 3 and int(f[1, 0, 0, 0, 1]) == 300
