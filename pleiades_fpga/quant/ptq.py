"""Post-training quantization (PTQ) of a float PLEIADES network, the one route of ``pleiades-fpga quantize`` and
``export --quant``: exportability checked from the configuration first (seconds), the quantized network built with
the float weights, then activation scales calibrated on event clips with the trained norms frozen.

Calibration data (``calibration_frames``): synthetic gestures at the model's resolution
(``pleiades_fpga.data.synthetic``) or a local DVS128 Gesture copy (``pleiades_fpga.data.dvs128``), binned at the
model's bin size, ``receptive_field + 12`` frames per clip (every temporal buffer filled). Each calibration pass
is one clip; the activation quantizers average their statistics over the clips (quant config ``act_calibration =
"mean"``, the default) or keep the largest of every call on every clip (``"max"``: with ``act_percentile = 100`` the
range of every calibration value, also for a quantizer shared by two tensors, the DWS add's), then their scales are
fixed.
With ``weight_rounding = "gptq"`` the network is then BatchNorm-folded and its stored-tap convs' weights rounded with
error feedback on the same clips (``pleiades_fpga.quant.gptq``); with ``bias_correction`` (after GPTQ when both are on)
its conv biases are corrected for the mean shift of weight rounding (``pleiades_fpga.quant.bias_correction``).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.bias_correction import correct_biases
from pleiades_fpga.quant.config import overrides_must_match
from pleiades_fpga.quant.fold import check_exportable, fold_batchnorm
from pleiades_fpga.quant.gptq import gptq_model
from pleiades_fpga.quant.groupnorm import QuantGroupNorm
from pleiades_fpga.quant.network import QuantPleiadesNet, build_quant_model, calibrate
EXTRA_FRAMES = 12  # calibration frames past the receptive field


def calibration_frames(config, source: str, n_clips: int, seed: int = 0,
                       progress: bool = True) -> Tensor:
    """Calibration clips (N, 2, T, H, W) for a network of ``config``: ``source`` "synthetic" or a DVS128 directory."""
    from pleiades_fpga.data.datasets import check_frames_request, load_clips

    h, w = config.input_size
    if h != w:
        raise PleiadesError(f"calibration clips are square; the model's input is {h}x{w}")
    name, root = ("synthetic", None) if source == "synthetic" else ("dvs128", source)
    check_frames_request(name, "train", h, n_clips, config.bin_us)
    clips = load_clips(name, "train", h, n_clips, seed, root, progress=progress)
    frames = clips.frames(config.bin_us, progress=progress)
    return frames[:, :, :min(frames.shape[2], config.receptive_field + EXTRA_FRAMES)]


def prepare_ptq(model: nn.Module, spec: dict[str, Any]) -> QuantPleiadesNet:
    """The quantized network of the float ``model`` for the resolved quant config ``spec`` (weights copied, not yet
    calibrated), after the checks that need no data: exportability (``check_exportable``) and per-layer overrides
    that match no layer. Call it before reading or generating calibration clips."""
    if getattr(model, "quant_config", None) is not None:
        raise PleiadesError("post-training quantization needs a float model; this one is already quantized")
    check_exportable(model.config, spec)
    with overrides_must_match(spec):
        return build_quant_model(model.config, spec, init_from=model)


def statistics_scalers(model: nn.Module) -> dict[str, nn.Module]:
    """{name: module} of ``model``'s Brevitas scale modules that set a scale from collected runtime statistics."""
    return {n: m for n, m in model.named_modules() if hasattr(m, "collect_stats_steps") and hasattr(m, "counter")}


BIG_STEPS = 2**30  # statistics steps while calibrating: the scales are set by finalize_collect_stats only


@contextmanager
def pooled_statistics(scalers: list[nn.Module], how: str) -> Iterator[None]:
    """While calibrating, every call of each Brevitas statistics scale module of ``scalers`` is pooled (each
    call's statistic replaces its running buffer, momentum 1; the pool is kept aside): ``how = "mean"``, the running
    mean of every call (Brevitas' own update, so a quantizer called once per clip gets its average exactly as
    before), or ``"max"``, the largest; on exit the pooled statistic is written back as the one its scale is
    initialized from. A quantizer called twice per clip (the DWS add's, shared by both add inputs) pools both calls
    of every clip."""
    from brevitas.core.utils import inplace_momentum_update

    pooled: dict[nn.Module, tuple[Tensor, int]] = {}

    def record(module: nn.Module, _args: tuple, _out: Any) -> None:
        if not module.training:
            return
        stat = module.buffer.detach()
        if module not in pooled:
            pooled[module] = (stat.clone(), 1)
            return
        acc, k = pooled[module]  # acc: this function's own copy, updated in place
        if how == "max":
            torch.maximum(acc, stat, out=acc)
        else:
            inplace_momentum_update(acc, stat, None, k, k + 1)
        pooled[module] = (acc, k + 1)

    handles = []
    for m in scalers:
        m.collect_stats_steps, m.momentum = BIG_STEPS, 1.0
        handles.append(m.register_forward_hook(record))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for m, (stat, _) in pooled.items():
            m.buffer.copy_(stat)


def calibrate_ptq(qmodel: QuantPleiadesNet, frames: Tensor, progress: bool = True) -> QuantPleiadesNet:
    """Activation scales from ``frames`` (N, 2, T, H, W): one clip per pass, the statistics of every call on the N
    passes averaged (as Brevitas' own PTQ calibration does; a quantizer called twice per pass, the DWS add's,
    averages both inputs' statistics over all N clips) or, with ``act_calibration = "max"``, the largest of every
    call (``pooled_statistics``), trained BatchNorm statistics frozen, causal GroupNorms on their exact
    per-frame statistics whatever their ``stats`` (the previous frame's blow up after the near-constant first frames
    of a clip, in float, and would set the scales); then the scales are fixed. With
    ``weight_rounding = "gptq"`` and/or ``bias_correction`` the BatchNorm-folded network with GPTQ-rounded weights
    and/or corrected biases is returned (what export writes)."""
    from brevitas.graph.calibrate import finalize_collect_stats

    n = len(frames)
    if n < 1:
        raise PleiadesError("post-training calibration needs at least one clip")

    scalers = list(statistics_scalers(qmodel).values())
    # activation scales from exact GroupNorm statistics: previous-frame statistics after a near-constant frame (the
    # start of a clip) divide by ~sqrt(eps) in float, and those transients would set every scale after them
    norms = [m for m in qmodel.modules() if isinstance(m, QuantGroupNorm)]
    stats = [m.stats for m in norms]
    for m in norms:
        m.stats = "frame"
    try:
        with pooled_statistics(scalers, qmodel.quant_config.get("act_calibration", "mean")):
            calibrate(qmodel, frames, batch_size=1, passes=n, freeze_norms=True, progress=progress)
    finally:
        for m, s in zip(norms, stats):
            m.stats = s
    qmodel.apply(finalize_collect_stats)
    if qmodel.quant_config.get("weight_rounding", "nearest") == "gptq":
        qmodel = gptq_model(fold_batchnorm(qmodel), frames, progress=progress)
    if qmodel.quant_config.get("bias_correction"):
        return correct_biases(fold_batchnorm(qmodel), frames, progress=progress)
    return qmodel.eval()
