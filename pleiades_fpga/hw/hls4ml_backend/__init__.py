"""hls4ml backend: the quantized PLEIADES network as an hls4ml (Vitis, io_stream) project, one frame per call.

``convert(onnx_path, out_dir)`` -> ``Hls4mlStream`` (``compile()``, ``step(frame)``, ``stream(clip)``,
``reset()``); ``build_hls4ml`` writes a build directory with a synthesis script (docs/HLS4ML.md).
"""
from pleiades_fpga.hw.hls4ml_backend.converter import Hls4mlStream, convert, design_from_ir

__all__ = ["Hls4mlStream", "convert", "design_from_ir"]
