"""Event-camera model: hand-computed threshold crossings, hysteresis, static scenes, noise statistics."""
import math

import numpy as np
import pytest

from pleiades_fpga.data import EVENT_DTYPE, CameraModel, events_from_log_intensity, noise_events
from pleiades_fpga.data.synthetic import ClipParams, render_clip, render_log_intensity
from pleiades_fpga.errors import PleiadesError


def _pixel(values):
    return np.asarray(values, dtype=np.float64).reshape(-1, 1, 1)


def test_ramp_up_gives_on_events_at_hand_computed_times():
    # log intensity rises 0.055 per 1000 us step, threshold 0.1: crossings of 0.1 .. 0.5 at k*0.1/0.055 ms
    steps = np.arange(11)
    ev = events_from_log_intensity(_pixel(0.055 * steps), steps * 1000, 0.1)
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) == 5 and (ev["p"] == 1).all()
    expected = [math.floor(k * 0.1 / 0.055 * 1000) for k in range(1, 6)]
    assert np.abs(ev["t"] - expected).max() <= 1


def test_ramp_down_gives_off_events():
    ev = events_from_log_intensity(_pixel([0.0, -0.27, -0.55]), [0, 10, 20], 0.1)
    assert list(ev["p"]) == [0, 0, 0, 0, 0]
    assert (ev["t"] <= 20).all()


def test_hysteresis_reference_moves_by_threshold():
    # 0 -> 0.15: one ON (ref 0.1); -> 0.05: nothing (not below ref - C = 0);
    # -> -0.01: one OFF (ref 0); -> -0.12: one OFF (ref -0.1)
    ev = events_from_log_intensity(_pixel([0.0, 0.15, 0.05, -0.01, -0.12]), [0, 100, 200, 300, 400], 0.1)
    assert list(ev["p"]) == [1, 0, 0]
    assert 0 <= ev["t"][0] < 100 and 200 <= ev["t"][1] < 300 and 300 <= ev["t"][2] < 400


def test_sub_threshold_flicker_and_static_pixels_give_nothing():
    t = np.arange(50)
    log_i = np.zeros((50, 2, 3))
    log_i[:, 0, 0] = 0.09 * np.sin(t)  # always within (-C, C) of the first value
    log_i[:, 1, 2] = 2.0  # constant
    assert len(events_from_log_intensity(log_i, t * 100, 0.1)) == 0


def test_only_changing_pixels_fire_in_a_rendered_clip():
    cam = CameraModel(threshold=0.2, threshold_mismatch=0.0, noise_hz=0.0)
    params = ClipParams(label=0, shape="bar", angle=0.3, contrast=1, log_gain=1.0)
    ev = render_clip(params, 32, 1_000_000, cam, np.random.default_rng(1))
    fine = np.arange(0, 1_000_001, 500)
    log_i = render_log_intensity(params, 32, fine, 1_000_000)
    swing = log_i.max(axis=0) - log_i.min(axis=0)
    assert len(ev) > 100
    assert (swing[ev["y"], ev["x"]] >= 0.2 - 1e-3).all()  # every event pixel changed by >= C
    fired = np.zeros((32, 32), bool)
    fired[ev["y"], ev["x"]] = True
    assert fired[swing >= 0.45].all()  # every pixel that changed by > 2C fired
    assert set(np.unique(ev["p"])) == {0, 1}  # bright bar moving: ON at the leading, OFF at the trailing edge
    assert not fired[swing < 1e-6].any()


def test_static_scene_gives_only_noise_at_the_configured_rate():
    cam = CameraModel(noise_hz=4.0)
    params = ClipParams(label=0, shape="cross", speed=0.0)  # speed 0: no motion at all
    counts = [len(render_clip(params, 32, 1_000_000, cam, np.random.default_rng(s))) for s in range(5)]
    mean = 4.0 * 32 * 32  # events per 1 s clip
    assert abs(np.mean(counts) - mean) < 5 * math.sqrt(mean / 5)


def test_noise_events_statistics():
    rng = np.random.default_rng(3)
    ev = noise_events(rng, 10.0, 16, 20, 2_000_000)
    mean = 10.0 * 16 * 20 * 2
    assert abs(len(ev) - mean) < 5 * math.sqrt(mean)
    assert ev["t"].min() >= 0 and ev["t"].max() < 2_000_000 and np.all(np.diff(ev["t"]) >= 0)
    assert ev["x"].max() == 19 and ev["y"].max() == 15 and ev["x"].min() == 0
    assert abs(ev["p"].mean() - 0.5) < 0.05


def test_bad_camera_parameters():
    with pytest.raises(PleiadesError):
        CameraModel(threshold=0.0)
    with pytest.raises(PleiadesError):
        CameraModel(noise_hz=-1.0)
