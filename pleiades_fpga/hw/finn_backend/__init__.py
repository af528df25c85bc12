"""FINN backend: FINN+ for the per-frame layers of a PLEIADES QONNX model, our RTL for the temporal ones.

``split`` cuts the graph into per-frame segments (pure ONNX, main environment), ``worker`` runs FINN's
transformations and estimates on them inside the FINN environment (``env``), ``project`` builds the directory and
compares FINN's estimates with ours. See docs/FINN.md.
"""
