"""The integer IR of a quantized PLEIADES network and everything that defines its meaning.

- ``graph``: ``IRGraph``, ``TensorSpec``, ``Layer``;
- ``integers``: the integer arithmetic (ranges, widths, round-half-even shifts, requantization);
- ``kinds``: the layer-kind registry, one module per kind (parameters, reader handler, golden step, analysis);
- ``reader`` (with ``read_context`` and ``qonnx_checks``): QONNX file -> IR; ``golden``: the integer golden model;
  ``summary``: a readable listing.

This package imports nothing from ``pleiades_fpga.hw``; the hardware backends import it.
"""
