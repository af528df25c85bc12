"""Float PLEIADES models: polynomial bases, temporal layers, (1+2)D network, presets, checkpoints."""
from pleiades_fpga.model.checkpoint import load_meta, load_model, read_checkpoint, save_checkpoint
from pleiades_fpga.model.network import (
    DWSBlock,
    FullBlock,
    Head,
    PleiadesNet,
    build_model,
    count_parameters,
    macs_per_frame,
    resample_model,
)
from pleiades_fpga.model.polynomials import discrete_basis, jacobi_polynomials
from pleiades_fpga.model.presets import PRESETS, BlockSpec, NetConfig, get_preset
from pleiades_fpga.model.temporal import (
    FreeTemporalConv,
    PleiadesTemporalConv,
    TemporalConv,
    choose_contraction,
    contraction_costs,
)

__all__ = [
    "PRESETS", "BlockSpec", "DWSBlock", "FreeTemporalConv", "FullBlock", "Head", "NetConfig", "PleiadesNet",
    "PleiadesTemporalConv", "TemporalConv", "build_model", "choose_contraction", "contraction_costs",
    "count_parameters", "discrete_basis", "get_preset", "jacobi_polynomials", "load_meta", "load_model",
    "macs_per_frame", "read_checkpoint", "resample_model", "save_checkpoint",
]
