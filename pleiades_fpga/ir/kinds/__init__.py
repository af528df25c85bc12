"""IR layer kinds, one module each, registered in ``KINDS`` (``pleiades_fpga.ir.kinds.registry``).

Each kind module holds the kind's integer semantics (docstring), its QONNX reader handler(s), its golden
step (clip and streaming state) and its accumulator/width analysis. Importing this package registers them all.
"""
from pleiades_fpga.ir.kinds import add, avgpool, conv, groupnorm, input, projection  # noqa: F401 (registers the kinds)
from pleiades_fpga.ir.kinds.registry import KINDS, GoldenLayer, Kind, get_kind, register

__all__ = ["KINDS", "GoldenLayer", "Kind", "get_kind", "register"]
