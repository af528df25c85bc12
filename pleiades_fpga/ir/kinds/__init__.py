"""IR layer kinds, one module each, registered in ``KINDS`` (``pleiades_fpga.ir.kinds.registry``).

Each kind module holds the kind's integer semantics (docstring), its QONNX reader handler(s), its golden
step (clip and streaming state) and its accumulator/width analysis. Importing this package imports every module
in it, so a kind is registered by adding its module; nothing else lists the kinds. A kind's QONNX custom op lives
in ``<kind>_op.py`` (collected by ``pleiades_fpga.custom_op``).
"""
import importlib
import pkgutil

from pleiades_fpga.ir.kinds.registry import KINDS, GoldenLayer, Kind, get_kind, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "GoldenLayer", "Kind", "get_kind", "register"]
