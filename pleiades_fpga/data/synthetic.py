"""Synthetic event-camera gestures: shared shapes moving in class-specific ways, rendered by `camera`.

Every class uses the same shapes (bar, cross, L, triangle), random orientation, size, position, speed and
contrast sign (bright on dark or dark on bright); classes differ only in motion. Because the contrast sign is
random, one frame cannot tell opposite motions apart (a bright bar moving right and a dark bar moving left
give the same ON/OFF edges); the trajectory over time does. Clips are deterministic: the random draw of clip
``i`` of split ``s`` depends only on ``(seed, s, i)``, and different splits are disjoint draws.
Image coordinates: x to the right, y downwards; "clockwise" is clockwise on screen.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pleiades_fpga.data.camera import CameraModel, record
from pleiades_fpga.errors import PleiadesError

CLASS_NAMES: tuple[str, ...] = (
    "move_right",
    "move_left",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "expand",
    "contract",
    "wave_horizontal",
    "wave_vertical",
)
SHAPES: tuple[str, ...] = ("bar", "cross", "ell", "triangle")
RESOLUTIONS: tuple[int, ...] = (32, 64, 128)
SPLITS: dict[str, int] = {"train": 0, "test": 1, "val": 2}

# motion laws, per clip at speed 1 (positions in units of the half image width, centre = 0)
TRANSLATION_PER_CLIP = 1.5   # distance travelled by move_* (the shape passes `center` at mid-clip)
ROTATION_PER_CLIP = 1.5 * np.pi  # angle turned by rotate_* (rigid rotation about a pivot, like an arm)
ROTATION_ARM = 0.3            # distance of the shape centre from the pivot of rotate_*
LOG_SCALE_PER_CLIP = 1.6      # ln(final size / initial size) of expand (negated for contract)
WAVE_AMPLITUDE = 0.35         # wave_*: center + A * sin(2 pi f t + phase)
WAVE_CYCLES_PER_CLIP = 1.5


@dataclass(frozen=True)
class ClipParams:
    """Everything that defines one synthetic clip (besides the camera and its noise).

    ``center``/``angle``/``scale`` are the shape pose at mid-clip (scale in half-image widths), except that
    rotate_* turn the shape rigidly about the pivot ``center`` with the shape centre on an arm of length
    `ROTATION_ARM` pointing along ``angle`` (the shape's own axis); ``speed``
    multiplies the class motion; ``drift`` is an extra slow translation over the clip; ``contrast`` is +1
    (bright shape) or -1 (dark shape) with ``log_gain`` the log-intensity step of its edge.
    """

    label: int
    shape: str
    center: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    scale: float = 0.3
    speed: float = 1.0
    contrast: int = 1
    log_gain: float = 1.0
    log_background: float = 0.0
    drift: tuple[float, float] = (0.0, 0.0)
    phase: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.label < len(CLASS_NAMES):
            raise PleiadesError(f"label must be in 0..{len(CLASS_NAMES) - 1}, got {self.label}")
        if self.shape not in SHAPES:
            raise PleiadesError(f"unknown shape {self.shape!r}; choose one of {SHAPES}")
        if self.contrast not in (-1, 1):
            raise PleiadesError("contrast must be +1 or -1")


def sample_params(label: int, rng: np.random.Generator) -> ClipParams:
    """Draw the random nuisance parameters (shape, pose, speed, contrast, drift) of a clip of class ``label``."""
    return ClipParams(
        label=int(label),
        shape=SHAPES[int(rng.integers(len(SHAPES)))],
        center=(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2))),
        angle=float(rng.uniform(0, 2 * np.pi)),
        scale=float(rng.uniform(0.22, 0.34)),
        speed=float(rng.uniform(0.7, 1.3)),
        contrast=int(rng.choice((-1, 1))),
        log_gain=float(rng.uniform(0.8, 1.4)),
        log_background=float(rng.uniform(-0.5, 0.5)),
        drift=(float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1))),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def pose(params: ClipParams, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shape pose (cx, cy, angle, scale) at clip fractions ``u`` in [0, 1] (0.5 = mid-clip)."""
    u = np.asarray(u, dtype=np.float64)
    v = params.speed
    w = u - 0.5
    cx = params.center[0] + params.drift[0] * w
    cy = params.center[1] + params.drift[1] * w
    ang = np.full_like(u, params.angle)
    scale = np.full_like(u, params.scale)
    name = CLASS_NAMES[params.label]
    step = TRANSLATION_PER_CLIP * v * w
    if name == "move_right":
        cx = cx + step
    elif name == "move_left":
        cx = cx - step
    elif name == "move_up":
        cy = cy - step
    elif name == "move_down":
        cy = cy + step
    elif name in ("rotate_cw", "rotate_ccw"):
        sense = 1.0 if name == "rotate_cw" else -1.0
        ang = ang + sense * ROTATION_PER_CLIP * v * w
        cx = cx + ROTATION_ARM * np.cos(ang)
        cy = cy + ROTATION_ARM * np.sin(ang)
    elif name == "expand":
        scale = scale * np.exp(LOG_SCALE_PER_CLIP * v * w)
    elif name == "contract":
        scale = scale * np.exp(-LOG_SCALE_PER_CLIP * v * w)
    elif name in ("wave_horizontal", "wave_vertical"):
        osc = WAVE_AMPLITUDE * np.sin(2 * np.pi * WAVE_CYCLES_PER_CLIP * v * w + params.phase)
        if name == "wave_horizontal":
            cx = cx + osc
        else:
            cy = cy + osc
    return cx, cy, ang, scale


def _box(qx: np.ndarray, qy: np.ndarray, hx: float, hy: float) -> np.ndarray:
    # Chebyshev-style box distance: exact inside and on the edges (corners are rounded by the edge blur)
    return np.maximum(np.abs(qx) - hx, np.abs(qy) - hy)


def shape_sdf(shape: str, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of a unit-size shape at local coordinates (qx, qy)."""
    if shape == "bar":
        return _box(qx, qy, 1.0, 0.3)
    if shape == "cross":
        return np.minimum(_box(qx, qy, 1.0, 0.25), _box(qx, qy, 0.25, 1.0))
    if shape == "ell":
        return np.minimum(_box(qx + 0.45, qy, 0.25, 1.0), _box(qx, qy - 0.75, 0.7, 0.25))
    if shape == "triangle":
        d = [qx * float(np.cos(a)) + qy * float(np.sin(a)) for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6)]
        return np.maximum(np.maximum(d[0], d[1]), d[2]) - 0.55
    raise PleiadesError(f"unknown shape {shape!r}; choose one of {SHAPES}")


def render_log_intensity(params: ClipParams, resolution: int, times_us: np.ndarray, duration_us: int) -> np.ndarray:
    """Log intensity (S, H, W) of the scene at ``times_us`` (edges anti-aliased over ~half a pixel)."""
    u = np.asarray(times_us, dtype=np.float64) / duration_us
    cx, cy, ang, scale = (a[:, None, None].astype(np.float32) for a in pose(params, u))
    coords = ((np.arange(resolution) + 0.5) * (2.0 / resolution) - 1.0).astype(np.float32)
    px, py = coords[None, None, :], coords[None, :, None]
    dx, dy = px - cx, py - cy
    cos, sin = np.cos(ang), np.sin(ang)
    qx = (cos * dx + sin * dy) / scale
    qy = (-sin * dx + cos * dy) / scale
    sdf_px = shape_sdf(params.shape, qx, qy) * scale * (resolution / 2.0)
    inside = 0.5 * (1.0 - np.tanh(sdf_px))  # smooth step, ~1 pixel wide edge
    return params.log_background + params.contrast * params.log_gain * inside


def render_clip(
    params: ClipParams,
    resolution: int = 32,
    duration_us: int = 1_000_000,
    camera: CameraModel = CameraModel(),
    rng: np.random.Generator | None = None,
    step_us: int | None = None,
) -> np.ndarray:
    """Events of one clip with explicit parameters, events in [0, duration).

    The scene is sampled every ``step_us`` (default 128 ms / resolution: 4 ms at 32x32, 1 ms at 128x128,
    i.e. edges move at most ~0.3 pixel per step) and event times are interpolated in between.
    """
    if resolution < 8:
        raise PleiadesError(f"resolution must be >= 8, got {resolution}")
    step_us = max(250, 128_000 // resolution) if step_us is None else int(step_us)
    rng = np.random.default_rng(0) if rng is None else rng
    times = np.arange(0, duration_us + step_us, step_us, dtype=np.int64)
    log_i = render_log_intensity(params, resolution, times, duration_us)
    return record(log_i, times, camera, rng, duration_us)


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of clip ``index`` of ``split`` (independent streams per (seed, split, index))."""
    if split not in SPLITS:
        raise PleiadesError(f"unknown split {split!r}; choose one of {tuple(SPLITS)}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLITS[split], int(index)]))


def synthetic_clip(
    index: int,
    split: str = "train",
    seed: int = 0,
    resolution: int = 32,
    duration_us: int = 1_000_000,
    camera: CameraModel = CameraModel(),
) -> tuple[np.ndarray, int]:
    """Clip ``index`` of a split: (events, label). Labels cycle through the classes (balanced splits)."""
    rng = clip_rng(seed, split, index)
    label = int(index % len(CLASS_NAMES))
    params = sample_params(label, rng)
    return render_clip(params, resolution, duration_us, camera, rng), label


def with_label(params: ClipParams, label: int) -> ClipParams:
    """The same clip parameters with another class (motion)."""
    return replace(params, label=label)
