"""The ONNX domain ``pleiades_fpga.custom_op`` of exported QONNX files: qonnx's op registry imports the module
named like a node's domain and looks the op up in its ``custom_op`` dict. The ops live with their IR kinds
(``pleiades_fpga.ir.kinds.projection_op``, ``pleiades_fpga.ir.kinds.groupnorm_op``); this module only exists for
that lookup."""
from pleiades_fpga.ir.kinds.groupnorm_op import custom_op as _groupnorm_ops
from pleiades_fpga.ir.kinds.projection_op import custom_op as _projection_ops

custom_op = {**_projection_ops, **_groupnorm_ops}

__all__ = ["custom_op"]
