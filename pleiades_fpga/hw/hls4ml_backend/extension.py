"""hls4ml extension layer for the PLEIADES causal temporal convolution (``PleiadesTemporalConv``).

Registered through hls4ml's extension API: a ``Layer`` subclass, a config and a function-call template for the
Vivado/Vitis backends, and the C++ header ``templates/pleiades_temporal_conv.h`` (a ``static`` circular buffer of
the K-1 previous frames per pixel and channel, zeroed when the frame's reset flag is set). The layer has two
inputs: the frame stream (H*W pixels of C channels) and a one-element reset stream read once per call.
"""
from __future__ import annotations

import functools
from pathlib import Path

HEADER = Path(__file__).resolve().parent / "templates" / "pleiades_temporal_conv.h"
LAYER_NAME = "PleiadesTemporalConv"
_REGISTERED: set[str] = set()

_CONFIG = """struct config{index} : nnet::pleiades_temporal_config {{
    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_filt = {n_filt};
    static const unsigned groups = {groups};
    static const unsigned kernel = {kernel};
    typedef {accum_t.name} accum_t;
    typedef {weight_t.name} weight_t;
    typedef {bias_t.name} bias_t;
}};\n"""

_CALL = ("nnet::pleiades_temporal_conv<{input_t}, {reset_t}, {output_t}, {config}>"
         "({input}, {reset}, {output}, {w}, {b});")


@functools.cache
def _classes():
    """Layer and template classes (built lazily: importing hls4ml is slow)."""
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Layer
    from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute

    class PleiadesTemporalConv(Layer):
        """Causal temporal conv on one frame (H, W, C) -> (H, W, n_filt); inputs: [frame, reset]."""

        _expected_attributes = [
            Attribute("n_pixels"), Attribute("n_chan"), Attribute("n_filt"), Attribute("groups"),
            Attribute("kernel"), Attribute("out_shape", value_type=list),
            WeightAttribute("weight"), WeightAttribute("bias"), TypeAttribute("weight"), TypeAttribute("bias"),
            TypeAttribute("accum"),
        ]

        def initialize(self) -> None:
            self.add_output_variable(list(self.get_attr("out_shape")))
            self.add_weights_variable(name="weight", var_name="w{index}", data="weight")
            self.add_weights_variable(name="bias", var_name="b{index}", data="bias")

    class TemporalConfigTemplate(LayerConfigTemplate):
        def __init__(self) -> None:
            super().__init__(PleiadesTemporalConv)
            self.template = _CONFIG

        def format(self, node) -> str:
            params = self._default_config_params(node)
            params["weight_t"] = node.get_weights("weight").type
            params["bias_t"] = node.get_weights("bias").type
            return self.template.format(**params)

    class TemporalFunctionTemplate(FunctionCallTemplate):
        def __init__(self) -> None:
            super().__init__(PleiadesTemporalConv, include_header=[f"nnet_utils/{HEADER.name}"])
            self.template = _CALL

        def format(self, node) -> str:
            params = self._default_function_params(node)
            params["input_t"] = node.get_input_variable(node.inputs[0]).type.name
            params["input"] = node.get_input_variable(node.inputs[0]).name
            params["reset_t"] = node.get_input_variable(node.inputs[1]).type.name
            params["reset"] = node.get_input_variable(node.inputs[1]).name
            params["w"] = node.get_weights("weight").name
            params["b"] = node.get_weights("bias").name
            return self.template.format(**params)

    return PleiadesTemporalConv, TemporalConfigTemplate, TemporalFunctionTemplate


def register_extension(backend: str = "Vitis") -> None:
    """Register the layer, its templates and its C++ header with hls4ml (idempotent per backend)."""
    import hls4ml

    if backend in _REGISTERED:
        return
    layer_cls, config_tpl, function_tpl = _classes()
    if not _REGISTERED:
        hls4ml.model.layers.register_layer(LAYER_NAME, layer_cls)
    be = hls4ml.backends.get_backend(backend)
    be.register_template(config_tpl)
    be.register_template(function_tpl)
    be.register_source(HEADER)
    _REGISTERED.add(backend)
