"""Synthetic gestures: determinism, disjoint splits, class-motion properties measured from the events."""
import time

import numpy as np
import pytest

from pleiades_fpga.data import CLASS_NAMES, EVENT_DTYPE, CameraModel, ClipParams, render_clip, synthetic_clip
from pleiades_fpga.data.synthetic import sample_params
from pleiades_fpga.errors import PleiadesError

QUIET = CameraModel(threshold=0.2, threshold_mismatch=0.0, noise_hz=0.0)
D = 1_000_000
W = 32


def _label(name):
    return CLASS_NAMES.index(name)


def _windows(ev, n=10):
    edges = np.linspace(0, D, n + 1)
    return [ev[(ev["t"] >= a) & (ev["t"] < b)] for a, b in zip(edges[:-1], edges[1:])]


def _slope(values):
    x = np.arange(len(values))
    return np.polyfit(x, np.asarray(values), 1)[0]


def _centroids(ev):
    return np.array([[w["x"].mean(), w["y"].mean()] for w in _windows(ev)])


def _axis_angles(ev):
    """Principal-axis angle of the events of each window (image coords, y down), unwrapped with period pi."""
    ang = []
    for w in _windows(ev, 20):
        x, y = w["x"] - w["x"].mean(), w["y"] - w["y"].mean()
        ang.append(0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean()))
    return np.unwrap(2 * np.array(ang)) / 2


def _radii(ev):
    """RMS distance of the events of each window from their centroid (windows with < 10 events skipped)."""
    return [np.sqrt(((w["x"] - w["x"].mean()) ** 2 + (w["y"] - w["y"].mean()) ** 2).mean())
            for w in _windows(ev) if len(w) >= 10]


def _mirror_x(ev):
    out = ev.copy()
    out["x"] = W - 1 - out["x"]
    return out


def _transpose(ev):
    out = ev.copy()
    out["x"], out["y"] = ev["y"], ev["x"]
    return out


def _reverse_time(ev):
    out = ev[::-1].copy()
    out["t"] = D - 1 - out["t"]
    out["p"] = 1 - out["p"]
    return out


def _render(name, **kw):
    base = dict(label=_label(name), shape="bar", center=(0.0, 0.0), angle=0.4, scale=0.3, speed=1.0)
    base.update(kw)
    return render_clip(ClipParams(**base), W, D, QUIET, np.random.default_rng(0))


def test_class_list():
    assert len(CLASS_NAMES) >= 10 and len(set(CLASS_NAMES)) == len(CLASS_NAMES)


def test_deterministic_by_seed_and_disjoint_splits():
    a, la = synthetic_clip(7, "train", seed=3)
    b, lb = synthetic_clip(7, "train", seed=3)
    assert a.dtype == EVENT_DTYPE and la == lb and np.array_equal(a, b)
    c, _ = synthetic_clip(7, "train", seed=4)
    d, ld = synthetic_clip(7, "test", seed=3)
    assert ld == la  # same class position, different draw
    assert not np.array_equal(a, c) and not np.array_equal(a, d)
    assert np.all(np.diff(a["t"]) >= 0) and a["t"].min() >= 0 and a["t"].max() < D
    assert a["x"].max() < W and a["y"].max() < W and set(np.unique(a["p"])) <= {0, 1}


def test_labels_are_balanced():
    labels = [synthetic_clip(i, "train", seed=0, resolution=32)[1] for i in range(2 * len(CLASS_NAMES))]
    assert np.bincount(labels).tolist() == [2] * len(CLASS_NAMES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translation_direction_and_mirror(seed):
    rng = np.random.default_rng(seed)
    p = sample_params(_label("move_right"), rng)
    right = render_clip(p, W, D, QUIET, rng)
    left = render_clip(ClipParams(**{**p.__dict__, "label": _label("move_left")}), W, D, QUIET, rng)
    up = render_clip(ClipParams(**{**p.__dict__, "label": _label("move_up")}), W, D, QUIET, rng)
    cr, cl, cu = _centroids(right), _centroids(left), _centroids(up)
    assert _slope(cr[:, 0]) > 0.5 and _slope(cl[:, 0]) < -0.5 and _slope(cu[:, 1]) < -0.5
    # the mirrored clip of move_right moves like move_left; the transposed one like move_down
    assert _slope(_centroids(_mirror_x(right))[:, 0]) < -0.5
    assert _slope(_centroids(_transpose(right))[:, 1]) > 0.5


def test_single_frame_is_ambiguous_between_opposite_motions():
    bright_right = _render("move_right", contrast=1)
    dark_left = _render("move_left", contrast=-1)
    dark_right = _render("move_right", contrast=-1)

    def frame(ev):  # 40 ms around mid-clip
        return ev[(ev["t"] >= 480_000) & (ev["t"] < 520_000)]

    def dipole(w):  # mean position of ON events minus that of OFF events
        on, off = w[w["p"] == 1], w[w["p"] == 0]
        return np.array([on["x"].mean() - off["x"].mean(), on["y"].mean() - off["y"].mean()])

    fa, fb, fc = frame(bright_right), frame(dark_left), frame(dark_right)
    assert min(len(fa), len(fb), len(fc)) > 20
    # same place, same polarity layout (ON edge right of the OFF edge) for opposite motions ...
    assert np.hypot(fa["x"].mean() - fb["x"].mean(), fa["y"].mean() - fb["y"].mean()) < 1.0
    assert dipole(fa)[0] > 1.0 and dipole(fb)[0] > 1.0
    assert np.abs(dipole(fa) - dipole(fb)).max() < 1.0
    # ... while the same motion with the other contrast has the opposite layout
    assert dipole(fc)[0] < -1.0
    # ... while the clips move in opposite directions
    assert _slope(_centroids(bright_right)[:, 0]) > 0.5 > -0.5 > _slope(_centroids(dark_left)[:, 0])


def test_rotation_sense_and_time_reversal():
    cw = _render("rotate_cw", scale=0.4)
    ccw = _render("rotate_ccw", scale=0.4)
    assert _slope(_axis_angles(cw)) > 0.05  # clockwise on screen (y down): angle grows
    assert _slope(_axis_angles(ccw)) < -0.05
    assert _slope(_axis_angles(_reverse_time(cw))) < -0.05  # time-reversed clockwise = counter-clockwise
    # the shape also circles the pivot (image centre): the polar angle of the event centroid turns the same way
    for ev, sign in ((cw, 1), (ccw, -1), (_reverse_time(cw), -1)):
        c = _centroids(ev) - (W - 1) / 2
        assert sign * _slope(np.unwrap(np.arctan2(c[:, 1], c[:, 0]))) > 0.2


def test_expand_contract_and_time_reversal():
    grow = _render("expand", shape="cross")
    shrink = _render("contract", shape="cross")
    assert _slope(_radii(grow)) > 0.1 and _slope(_radii(shrink)) < -0.1
    assert _slope(_radii(_reverse_time(grow))) < -0.1


def test_transposed_horizontal_wave_is_a_vertical_wave():
    h = _render("wave_horizontal", shape="triangle")
    v = _render("wave_vertical", shape="triangle")
    ch, cv, ct = _centroids(h), _centroids(v), _centroids(_transpose(h))
    assert ch[:, 0].std() > 3 * ch[:, 1].std()
    assert cv[:, 1].std() > 3 * cv[:, 0].std()
    assert ct[:, 1].std() > 3 * ct[:, 0].std()


@pytest.mark.parametrize("resolution", [64, 128])
def test_other_resolutions(resolution):
    ev, _ = synthetic_clip(3, "test", seed=0, resolution=resolution)
    assert len(ev) > 0 and ev["x"].max() < resolution and ev["y"].max() < resolution
    assert ev["x"].max() >= 32 or ev["y"].max() >= 32  # uses the larger sensor


def test_generation_is_fast():
    start = time.process_time()
    for i in range(100):
        synthetic_clip(i, "train", seed=1)
    assert time.process_time() - start < 20.0  # 100 one-second clips at 32x32 (CPU time; ~3 s on a quiet core)


def test_bad_arguments():
    with pytest.raises(PleiadesError):
        ClipParams(label=len(CLASS_NAMES), shape="bar")
    with pytest.raises(PleiadesError):
        ClipParams(label=0, shape="circle")
    with pytest.raises(PleiadesError):
        synthetic_clip(0, "validation")
