"""Post-training quantization of causal GroupNorm with the previous frame's statistics (groupnorm_stats =
"previous"): calibrated on exact statistics, so the transient after the near-constant first frames of a clip (the
previous frame's variance ~0: a gain of ~1/sqrt(eps) in float) does not set the activation scales and the
quantized network tracks the float one after the warm-up instead of collapsing."""
from __future__ import annotations

import torch

from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import resolve_spec
from pleiades_fpga.quant.groupnorm import QuantGroupNorm
from pleiades_fpga.quant.ptq import calibrate_ptq, prepare_ptq

CFG = get_preset("tiny", input_size=(8, 8)).replace(temporal_norm="group", norm_groups=2)
SPEC = {"weight_bits": 8, "act_bits": 8}


def _clips(seed: int, n: int) -> torch.Tensor:
    """Poisson event counts whose first 4 frames are empty (a clip that starts in silence)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.poisson(torch.full((n, 2, CFG.receptive_field + 12, 8, 8), 0.5), generator=g)
    x[:, :, :4] = 0
    return x


def test_previous_stats_calibrated_on_exact_statistics_and_tracks_float():
    torch.manual_seed(5)
    model = build_model(CFG).eval()
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.4, generator=g)
    calib, test = _clips(0, 3), _clips(1, 2)
    q = {s: calibrate_ptq(prepare_ptq(model, resolve_spec({**SPEC, "groupnorm_stats": s})), calib, progress=False)
         for s in ("frame", "previous")}
    scales = {s: [float(m.act_quant.scale().detach()) for n, m in q[s].named_modules() if n.endswith("_act")] for s in q}
    assert scales["previous"] == scales["frame"]
    norms = [m for m in q["previous"].modules() if isinstance(m, QuantGroupNorm)]
    assert len(norms) == 3 and all(m.stats == "previous" for m in norms)  # restored after calibration
    warm = CFG.receptive_field + 4
    with torch.no_grad():
        ref = model(test, pad="causal")[:, :, warm:]
        y = q["previous"](test, pad="causal")[:, :, warm:]
    assert y.std() > 0.1 * ref.std()  # not collapsed to constant logits
    assert float((y - ref).norm() / ref.norm()) < 0.3
