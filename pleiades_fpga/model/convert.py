"""Model conversion between temporal-layer implementations: finite-window buffer <-> recurrent projection.

``convert_model`` returns a copy of a float PleiadesNet whose chosen temporal layers are recurrent (or back);
``layer_errors`` compares each layer's recurrent form with the finite kernel it replaces (docs/RECURRENT.md).
"""
from __future__ import annotations

import copy

import numpy as np
from torch import nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.network import PleiadesNet
from pleiades_fpga.model.presets import TEMPORAL_MODES
from pleiades_fpga.model.recurrent import RecurrentTemporalConv, from_pleiades, impulse_error
from pleiades_fpga.model.temporal import PleiadesTemporalConv


def check_temporal_mode(mode: str) -> str:
    if mode not in TEMPORAL_MODES:
        raise PleiadesError(
            f"temporal mode must be one of {TEMPORAL_MODES} (--temporal buffer|recurrent), got {mode!r}")
    return mode


def convert_model(model: nn.Module, layers: str | list[int] | tuple[str, ...] = "all", weighted: bool = True):
    """A copy of a float PleiadesNet whose chosen temporal layers are recurrent (converted, see ``from_pleiades``).

    ``layers``: "all", a list of block indices, or a per-block tuple of "buffer"/"recurrent".
    """
    if not isinstance(model, PleiadesNet):
        raise PleiadesError(f"convert_model needs a float PleiadesNet, got {type(model).__name__}")
    n = len(model.blocks)
    if layers == "all":
        modes = ("recurrent",) * n
    elif isinstance(layers, (tuple, list)) and all(isinstance(v, str) for v in layers):
        modes = tuple(check_temporal_mode(v) for v in layers)
    else:
        idx = set(int(i) for i in layers)
        modes = tuple("recurrent" if i in idx else model.config.temporal_mode(i) for i in range(n))
    if len(modes) != n:
        raise PleiadesError(f"{len(modes)} temporal modes for a network of {n} blocks")
    new = copy.deepcopy(model)
    for i, (block, mode) in enumerate(zip(new.blocks, modes)):
        if mode == "recurrent" and not isinstance(block.temporal, RecurrentTemporalConv):
            block.temporal = from_pleiades(block.temporal, weighted=weighted)
        elif mode == "buffer" and isinstance(block.temporal, RecurrentTemporalConv):
            block.temporal = block.temporal.to_pleiades()
    new.config = model.config.replace(temporal=modes[0] if len(set(modes)) == 1 else list(modes))
    return new


def layer_errors(model: nn.Module, horizon: int | None = None) -> list[dict]:
    """Per temporal layer: impulse-response error of the recurrent form vs the finite kernel it replaces.

    For a recurrent layer the reference is its equivalent finite-window layer (``to_pleiades``, least squares);
    for a buffer PLEIADES layer the reference is its own kernel and the recurrent form is ``from_pleiades``.
    """
    out = []
    for i, block in enumerate(model.blocks):
        layer = block.temporal
        if isinstance(layer, RecurrentTemporalConv):
            rec, ref = layer, layer.to_pleiades()
        elif isinstance(layer, PleiadesTemporalConv):
            rec, ref = from_pleiades(layer), layer
        else:
            continue
        h = int(horizon or 4 * ref.kernel_size)
        err = impulse_error(ref.kernel().detach().double().numpy(), rec.A.numpy(), rec.B.numpy(),
                            rec.readout_matrix().detach().double().numpy(), h)
        out.append({"name": f"blocks.{i}.temporal", "kernel_size": ref.kernel_size, "states": rec.num_states,
                    "groups": ref.groups, "horizon": h, "impulse_rel_l2_error": err,
                    "spectral_radius": float(max(abs(np.linalg.eigvals(rec.A.numpy()))))})
    return out


__all__ = ["check_temporal_mode", "convert_model", "layer_errors"]
