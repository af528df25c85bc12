"""FINN custom op for a causal PLEIADES temporal layer, implemented by our RTL (FINN environment only).

``PleiadesTemporalConv_rtl`` (domain ``finn.custom_op.fpgadataflow.rtl``) lets a whole PLEIADES network be one FINN
dataflow graph: FINN's analysis passes see the temporal layers, their Python execution keeps the K-1 frame history
across calls (one call = one frame, like the hardware; ``reset_state()`` = reset), and ``generate_hdl`` writes a
wrapper with FINN's port names (``wrapper.finn_wrapper_verilog``) around our generated layer module and copies its
Verilog, so FINN's IP stitching can instantiate it (that last step needs Vivado and is not run here).

Node attributes: the integer layer (``Weights`` flattened (C_out, C_in/groups, K), ``Bias``, ``Mult``, ``Shift``,
``Kernel``, ``Groups``, channels, ``ImgDim``, in/out datatypes) and our estimates for it (``EstLUT``, ``EstDSP``,
``EstBRAM18``, ``Cycles``: from ``pleiades_fpga.report.estimate`` and the RTL manifest), the module name and its
Verilog files. Arithmetic: ``pleiades_fpga.ir.integers.requantize`` (exactly the golden model's).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend
from qonnx.core.datatype import DataType

from pleiades_fpga.hw.finn_backend.wrapper import finn_wrapper_verilog
from pleiades_fpga.ir.integers import requantize

_HISTORY: dict[str, np.ndarray] = {}  # node name -> (K-1, H, W, C_in) past input frames, oldest first


def reset_state() -> None:
    """Forget every temporal layer's history (the hardware's reset)."""
    _HISTORY.clear()


class PleiadesTemporalConv(HWCustomOp):
    """Causal temporal convolution (K, 1, 1) over frames, NHWC stream of one frame per call."""

    def get_nodeattr_types(self):
        attrs = {
            "NumInChannels": ("i", True, 0), "NumOutChannels": ("i", True, 0), "ImgDim": ("ints", True, []),
            "Kernel": ("i", True, 0), "Groups": ("i", False, 1),
            "Weights": ("ints", True, []), "Bias": ("ints", True, []), "Mult": ("ints", True, []),
            "Shift": ("ints", True, []),
            "inputDataType": ("s", True, ""), "outputDataType": ("s", True, ""),
            "PE": ("i", False, 1), "SIMD": ("i", False, 1),
            "Cycles": ("i", False, 0), "EstLUT": ("i", False, 0), "EstDSP": ("i", False, 0),
            "EstBRAM18": ("f", False, 0.0), "RtlModule": ("s", False, ""), "RtlFiles": ("strings", False, []),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    # shapes and types -------------------------------------------------------------------------------------
    def get_normal_input_shape(self, ind=0):
        h, w = self.get_nodeattr("ImgDim")
        return (1, h, w, self.get_nodeattr("NumInChannels"))

    def get_normal_output_shape(self, ind=0):
        h, w = self.get_nodeattr("ImgDim")
        return (1, h, w, self.get_nodeattr("NumOutChannels"))

    def get_folded_input_shape(self, ind=0):
        return (*self.get_normal_input_shape()[:-1], 1, self.get_nodeattr("NumInChannels"))

    def get_folded_output_shape(self, ind=0):
        return (*self.get_normal_output_shape()[:-1], 1, self.get_nodeattr("NumOutChannels"))

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def get_instream_width(self, ind=0):
        return self.get_input_datatype().bitwidth() * self.get_nodeattr("NumInChannels")

    def get_outstream_width(self, ind=0):
        return self.get_output_datatype().bitwidth() * self.get_nodeattr("NumOutChannels")

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], self.get_output_datatype())

    def make_shape_compatible_op(self, model):
        return super().make_const_shape_op(self.get_normal_output_shape())

    def verify_node(self):
        return []

    # estimates: ours (the FINN analysis passes read them) ----------------------------------------------
    def get_exp_cycles(self):
        return int(self.get_nodeattr("Cycles"))

    def lut_estimation(self, *_args):
        return int(self.get_nodeattr("EstLUT"))

    def dsp_estimation(self, *_args):
        return int(self.get_nodeattr("EstDSP"))

    def bram_estimation(self, *_args):
        return float(self.get_nodeattr("EstBRAM18"))

    def uram_estimation(self, *_args):
        return 0

    # Python execution: one frame per call, history kept across calls -------------------------------------
    def execute_node(self, context, graph):
        node = self.onnx_node
        k, groups = self.get_nodeattr("Kernel"), self.get_nodeattr("Groups")
        cin, cout = self.get_nodeattr("NumInChannels"), self.get_nodeattr("NumOutChannels")
        x = np.asarray(context[node.input[0]], dtype=np.int64).reshape(self.get_normal_input_shape())[0]
        hist = _HISTORY.get(node.name)
        if hist is None:
            hist = np.zeros((k - 1, *x.shape), dtype=np.int64)
        frames = np.concatenate([hist, x[None]], axis=0)  # (K, H, W, C_in), oldest first
        w = np.asarray(self.get_nodeattr("Weights"), dtype=np.int64).reshape(cout, cin // groups, k)
        og, ig = cout // groups, cin // groups
        acc = np.zeros((*x.shape[:2], cout), dtype=np.int64)
        for g in range(groups):
            xs = frames[..., g * ig:(g + 1) * ig]                       # (K, H, W, ig)
            acc[..., g * og:(g + 1) * og] = np.einsum("khwi,oik->hwo", xs, w[g * og:(g + 1) * og])
        acc += np.asarray(self.get_nodeattr("Bias"), dtype=np.int64)
        odt = self.get_output_datatype()
        y = requantize(acc, np.asarray(self.get_nodeattr("Mult"), dtype=np.int64),
                       np.asarray(self.get_nodeattr("Shift"), dtype=np.int64), int(odt.min()), int(odt.max()))
        _HISTORY[node.name] = frames[1:]
        context[node.output[0]] = y.reshape(self.get_normal_output_shape()).astype(np.float32)


class PleiadesTemporalConv_rtl(PleiadesTemporalConv, RTLBackend):  # noqa: N801 - FINN's naming
    """RTL variant: our generated layer module behind a wrapper with FINN's port names."""

    def get_nodeattr_types(self):
        attrs = PleiadesTemporalConv.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    def generate_hdl(self, model, fpgapart, clk):
        out_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        out_dir.mkdir(parents=True, exist_ok=True)
        top = self.get_verilog_top_module_name()
        h, w = self.get_nodeattr("ImgDim")
        (out_dir / f"{top}.v").write_text(finn_wrapper_verilog(
            top, self.get_nodeattr("RtlModule"), self.get_instream_width(), self.get_outstream_width(), h * w))
        for src in self.get_nodeattr("RtlFiles"):
            shutil.copyfile(src, out_dir / Path(src).name)
        self.set_nodeattr("gen_top_module", top)
        self.set_nodeattr("ipgen_path", str(out_dir))
        self.set_nodeattr("ip_path", str(out_dir))

    def get_rtl_file_list(self, abspath=False):
        base = (self.get_nodeattr("code_gen_dir_ipgen") + "/") if abspath else ""
        files = [Path(f).name for f in self.get_nodeattr("RtlFiles")]
        return [base + f for f in files] + [base + self.get_nodeattr("gen_top_module") + ".v"]

    def code_generation_ipi(self):
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd.append(f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')} "
                   f"{self.onnx_node.name}")
        return cmd

    def execute_node(self, context, graph):
        PleiadesTemporalConv.execute_node(self, context, graph)


def register() -> None:
    """Make ``PleiadesTemporalConv_rtl`` known to FINN's op registry (domain ``finn.custom_op.fpgadataflow.rtl``)."""
    import finn.custom_op.fpgadataflow.rtl as rtl

    rtl.custom_op["PleiadesTemporalConv_rtl"] = PleiadesTemporalConv_rtl
