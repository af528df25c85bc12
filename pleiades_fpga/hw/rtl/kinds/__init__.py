"""Hardware kinds of the streaming RTL backend, one module each (``registry``: ``HwKind``, ``register``,
``hw_kind_of``). Importing this package imports every module in it, so each kind is registered by adding its
module; nothing else lists the kinds."""
import importlib
import pkgutil

from pleiades_fpga.hw.rtl.kinds.registry import (HW_KINDS, EstimateInput, Fold, HwKind, Lowered, hardware_layers,
                                                 hw_kind, hw_kind_of, manifest_int, register)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["HW_KINDS", "EstimateInput", "Fold", "HwKind", "Lowered", "hardware_layers", "hw_kind", "hw_kind_of",
           "manifest_int", "register"]
