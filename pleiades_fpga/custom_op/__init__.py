"""The ONNX domain ``pleiades_fpga.custom_op`` of exported QONNX files: qonnx's op registry imports the module
named like a node's domain and looks the op up in its ``custom_op`` dict. The ops live with their IR kinds
(``pleiades_fpga/ir/kinds/<kind>_op.py``, each with its own ``custom_op`` dict); this module only collects them for
that lookup."""
import importlib
import pkgutil

import pleiades_fpga.ir.kinds as _kinds

custom_op: dict = {}
for _module in pkgutil.iter_modules(_kinds.__path__):
    if _module.name.endswith("_op"):
        custom_op.update(importlib.import_module(f"{_kinds.__name__}.{_module.name}").custom_op)

__all__ = ["custom_op"]
