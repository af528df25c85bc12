"""Event data: event arrays, the synthetic gesture set, the DVS128 Gesture loader and binning to frames."""
from pleiades_fpga.data.binning import bin_events, check_request, n_bins
from pleiades_fpga.data.camera import CameraModel, events_from_log_intensity, noise_events
from pleiades_fpga.data.datasets import DATASETS, EventClips, check_frames_request, load_clips
from pleiades_fpga.data.dvs128 import (DVS128_CLASS_NAMES, DroppedEventsWarning, load_dvs128, read_aedat31,
                                       read_labels_csv)
from pleiades_fpga.data.events import EVENT_DTYPE, check_events, downsample_events, events_from_columns, make_events
from pleiades_fpga.data.synthetic import CLASS_NAMES, SHAPES, ClipParams, render_clip, sample_params, synthetic_clip

__all__ = [
    "CLASS_NAMES", "DATASETS", "DVS128_CLASS_NAMES", "EVENT_DTYPE", "SHAPES", "CameraModel", "ClipParams",
    "DroppedEventsWarning", "EventClips", "bin_events", "check_events", "check_frames_request", "check_request",
    "downsample_events", "events_from_columns", "events_from_log_intensity", "load_clips",
    "load_dvs128", "make_events", "n_bins", "noise_events", "read_aedat31", "read_labels_csv", "render_clip",
    "sample_params", "synthetic_clip",
]
