"""FINN worker: runs inside the FINN environment (``.venv-finn``), never imports pleiades_fpga or torch.

Usage: ``python worker.py job.json``. Besides FINN, it imports only torch-free pleiades_fpga modules (the temporal
layer's FINN custom op ``temporal_op``, ``wrapper``, ``golden.requantize``). The job names the segment QONNX files (written by ``split.py``), the FPGA
part, the clock, the folding target (cycles per frame) and an ``.npz`` of test inputs. For every segment it
applies FINN's flow up to the estimates (the steps of FINN's ``build_dataflow`` that need no Vivado):

1. qonnx cleanup, ``ConvertQONNXtoFINN`` (Quant -> MultiThreshold), tidy-up;
2. streamlining (``Streamline``, ``LowerConvsToMatMul``, NHWC transposes absorbed, ``InferDataLayouts``), then
   ``round_ties_to_even``: FINN's thresholds round ties up, QONNX's Quant (and our hardware) to even;
3. conversion to HW layers (``InferThresholdingLayer``, ``InferConvInpGen``, ``InferQuantizedMatrixVectorActivation``,
   ``InferVectorVectorActivation`` for depthwise, ``InferAddStreamsLayer``/elementwise add, ``InferPoolFromReduce``,
   ``InferGlobalAccPoolLayer``, ``InferDuplicateStreamsLayer``), the dataflow partition, ``SpecializeLayers(part)``;
4. folding: ``SetFolding(target_cycles_per_frame)``;
5. FINN's analysis passes: ``res_estimation``, ``exp_cycles_per_layer``, ``dataflow_performance`` (after
   ``AnnotateCycles``) -> ``estimate_layer_resources.json``, ``estimate_layer_cycles.json``,
   ``estimate_network_performance.json`` in ``<out>/<segment>/``, and ``estimate_layer_resources_dsp.json``: the same
   design with ``resType=dsp`` on the MVAU/VVAU nodes (FINN's defaults build these multipliers in LUTs).

FINN's Python execution (``execute_onnx``) of the graph after steps 1, 2 and 3 (HW layers) runs on the test inputs;
the outputs go to ``<out>/<segment>/exec.npz`` (the caller compares them with the golden model). Progress
lines ``@@ <segment> <step>`` go to stdout; ``<out>/worker_result.json`` summarizes every segment
(``ok``/``error`` per step). With ``network`` in the job, the segments' HW layers and our temporal layers
(``temporal_op.PleiadesTemporalConv_rtl``) are stitched into one FINN graph of the whole network
(``network/network_dataflow.onnx``), which gets FINN's three reports and a frame-by-frame Python run from reset
(``network/logits.npy``).
"""
from __future__ import annotations

import json
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

# FINN's default (36) keeps HLS weight streams narrow; our RTL has no such limit, so let SIMD grow to the target
MVAU_WWIDTH_MAX = 1024
STEPS = ("qonnx_to_finn", "streamline", "execute", "convert_to_hw", "execute_hw", "dataflow_partition", "specialize",
         "folding", "estimates")


def job_repo_root(job_path: str) -> str:
    """The repository holding pleiades_fpga (its torch-free modules are used here: wrapper, temporal op, golden)."""
    return json.loads(Path(job_path).read_text()).get("repo_root") or str(Path(__file__).resolve().parents[3])


def progress(seg: str, step: str) -> None:
    print(f"@@ {seg} {step}", flush=True)


def _node_types(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def qonnx_to_finn(path: str):
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, RemoveStaticGraphInputs
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(path))
    model = model.transform(ConvertQONNXtoFINN())
    for t in (InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(), InferDataTypes(),
              RemoveStaticGraphInputs()):
        model = model.transform(t)
    return model


def streamline(model):
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
    from finn.transformation.streamline import Streamline
    import finn.transformation.streamline.reorder as reorder
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(Streamline())
    model = model.transform(LowerConvsToMatMul())
    model = model.transform(MakeMaxPoolNHWC())
    model = model.transform(absorb.AbsorbTransposeIntoMultiThreshold())
    model = model.transform(absorb.AbsorbConsecutiveTransposes())
    model = model.transform(reorder.MoveScalarLinearPastInvariants())
    model = model.transform(InferDataLayouts())
    model = model.transform(InferGlobalAccPoolLayer())  # GlobalAveragePool -> GlobalAccPool + Mul(1/N), NHWC
    model = model.transform(Streamline())
    # residual joins (DWS skip add): move the NCHW<->NHWC transposes and the shared scale past the Add
    for _ in range(3):
        for t in (reorder.MoveTransposePastJoinAdd(), reorder.MoveMulPastJoinAdd(), reorder.MoveTransposePastFork(),
                  reorder.MoveLinearPastFork(), absorb.AbsorbConsecutiveTransposes(),
                  absorb.AbsorbTransposeIntoMultiThreshold(), reorder.MoveScalarLinearPastInvariants(),
                  reorder.MoveTransposePastEltwise()):
            model = model.transform(t)
        model = model.transform(Streamline())
    model = model.transform(InferDataLayouts())
    model = model.transform(RemoveUnusedTensors())
    return model


def round_ties_to_even(model) -> tuple[object, int]:
    """Make every MultiThreshold on integer inputs round ties half to even, like QONNX's Quant (ROUND).

    FINN's thresholds count ``x >= t``: an input exactly on a threshold (a tie, possible when ``t`` is an integer)
    always goes up. The i-th threshold (1-based) lifts the output from ``i-1+out_bias`` to ``i+out_bias``; when
    that value is odd, half-to-even must stay below, so such an integer threshold becomes ``t + 0.5`` (for integer
    inputs ``x >= t + 0.5`` is ``x > t``). Returns the model and the number of thresholds moved.
    """
    from qonnx.custom_op.registry import getCustomOp

    moved = 0
    for node in model.get_nodes_by_op_type("MultiThreshold"):
        if not model.get_tensor_datatype(node.input[0]).is_integer():
            continue
        t = model.get_initializer(node.input[1])
        bias = int(round(float(getCustomOp(node).get_nodeattr("out_bias"))))
        step = np.arange(1, t.shape[-1] + 1) + bias          # output value reached by passing threshold i
        fix = (t == np.round(t)) & (np.broadcast_to(step % 2 == 1, t.shape))
        if np.any(fix):
            model.set_initializer(node.input[1], np.where(fix, t + 0.5, t).astype(np.float32))
            moved += int(np.count_nonzero(fix))
    return model, moved


def convert_to_hw(model):
    from finn.transformation.fpgadataflow.convert_to_hw import (
        conv_inp_gen, duplicate_streams, elementwise_binary_operation, global_acc_pool, pool_from_reduce,
        quantized_matrix_vector_activation as mvau, thresholding, vector_vector_activation as vvau)
    import finn.transformation.streamline.absorb as absorb
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    for t in (mvau.InferQuantizedMatrixVectorActivation(), vvau.InferVectorVectorActivation(),
              thresholding.InferThresholdingLayer(), pool_from_reduce.InferPoolFromReduce(),
              conv_inp_gen.InferConvInpGen(), global_acc_pool.InferGlobalAccPoolLayer(),
              elementwise_binary_operation.InferElementwiseBinaryOperation(),
              duplicate_streams.InferDuplicateStreamsLayer(), absorb.AbsorbConsecutiveTransposes(),
              GiveUniqueNodeNames(), InferDataLayouts(), InferDataTypes(), InferShapes()):
        model = model.transform(t)
    return model


def is_hw(node) -> bool:
    return node.domain.startswith("finn.custom_op.fpgadataflow")


def dataflow_partition(model, tmp: Path):
    """FINN's CreateDataflowPartition: the HW nodes as one child model (the rest stays outside)."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    outside = [f"{n.name} ({n.op_type})" for n in model.graph.node if not is_hw(n)]
    parent = model.transform(CreateDataflowPartition(partition_model_dir=str(tmp)))
    sdp = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdp) != 1:
        raise RuntimeError(f"expected one dataflow partition, got {len(sdp)}; nodes outside HW: {outside}")
    return ModelWrapper(getCustomOp(sdp[0]).get_nodeattr("model")), outside


def specialize(model, part: str):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(SpecializeLayers(part))
    for t in (GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):
        model = model.transform(t)
    return model


def fold(model, target_cycles: int):
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = model.transform(SetFolding(int(target_cycles), mvau_wwidth_max=MVAU_WWIDTH_MAX, two_pass_relaxation=True))
    model = model.transform(GiveUniqueNodeNames())
    config = {}
    for node in model.graph.node:
        inst = getCustomOp(node)
        attrs = {}
        for key in ("PE", "SIMD", "parallel_window", "ram_style", "resType", "mem_mode"):
            try:
                attrs[key] = inst.get_nodeattr(key)
            except Exception:  # noqa: BLE001 - the node type has no such attribute
                continue
        config[node.name] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    return model, config


def estimates(model, part: str, clock_mhz: float) -> tuple[dict, dict, dict, dict]:
    """FINN's resource (as folded, and with DSP multipliers), cycle and network performance estimates."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.op_and_param_counts import aggregate_dict_keys
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    cycles = model.analysis(exp_cycles_per_layer)
    res = model.analysis(lambda m: res_estimation(m, part))
    res["total"] = aggregate_dict_keys(res)
    res_dsp = model.analysis(lambda m: res_estimation(with_dsp_multipliers(m), part))
    res_dsp["total"] = aggregate_dict_keys(res_dsp)
    model = model.transform(AnnotateCycles())
    perf = dict(model.analysis(dataflow_performance))
    period_ns = 1000.0 / clock_mhz
    perf["estimated_throughput_fps"] = 1e9 / period_ns / perf["max_cycles"]
    perf["estimated_latency_ns"] = perf["critical_path_cycles"] * period_ns
    return res, res_dsp, cycles, perf


def with_dsp_multipliers(model):
    """A copy of ``model`` whose MVAU/VVAU nodes have ``resType=dsp`` (FINN's default here builds them in LUTs)."""
    import copy

    from qonnx.custom_op.registry import getCustomOp

    model = copy.deepcopy(model)
    for node in model.graph.node:
        inst = getCustomOp(node)
        if "resType" in inst.get_nodeattr_types():
            inst.set_nodeattr("resType", "dsp")
    return model


def execute(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FINN's Python execution of one frame per sample: {graph output: (N, ...) float}."""
    from qonnx.core.onnx_exec import execute_onnx

    names_in = [i.name for i in model.graph.input]
    names_out = [o.name for o in model.graph.output]
    n = next(iter(inputs.values())).shape[0]
    outs: dict[str, list] = {o: [] for o in names_out}
    for k in range(n):
        ctx = {name: inputs[name][k:k + 1].astype(np.float32) for name in names_in}
        res = execute_onnx(model, ctx)
        for o in names_out:
            outs[o].append(res[o])
    return {o: np.concatenate(v, axis=0) for o, v in outs.items()}


def run_segment(seg: dict, job: dict, out: Path, test: dict[str, np.ndarray]) -> dict:
    name = seg["name"]
    sdir = out / name
    sdir.mkdir(parents=True, exist_ok=True)
    result: dict = {"name": name, "steps": {}}

    def step(label: str, fn):
        progress(name, label)
        try:
            value = fn()
            result["steps"][label] = "ok"
            return value
        except Exception as exc:  # noqa: BLE001 - reported per step, the caller decides
            result["steps"][label] = f"error: {type(exc).__name__}: {exc}"
            (sdir / f"{label}.traceback.txt").write_text(traceback.format_exc())
            raise

    try:
        finn_model = step("qonnx_to_finn", lambda: qonnx_to_finn(str(Path(job["segment_dir"]) / seg["onnx"])))
        finn_model.save(str(sdir / "finn_onnx.onnx"))
        result["finn_onnx_nodes"] = _node_types(finn_model)
        slim = step("streamline", lambda: streamline(finn_model))
        slim, result["ties_to_even_thresholds"] = round_ties_to_even(slim)
        slim.save(str(sdir / "streamlined.onnx"))
        result["streamlined_nodes"] = _node_types(slim)
        # test inputs by position (FINN renames the graph inputs/outputs: global_in, global_in_1, ...)
        inputs = {i.name: test[f"{name}/in{k}"] for k, i in enumerate(finn_model.graph.input)
                  if f"{name}/in{k}" in test}
        stages: dict[str, np.ndarray] = {}
        runnable = bool(inputs) and len(inputs) == len(finn_model.graph.input)

        def run_stage(label: str, model) -> None:
            stages.update({f"{label}/out{k}": v for k, v in enumerate(execute(model, inputs).values())})
            np.savez(sdir / "exec.npz", **stages)

        if runnable:
            step("execute", lambda: (run_stage("finn_onnx", finn_model), run_stage("streamlined", slim)))
        hw = step("convert_to_hw", lambda: convert_to_hw(slim))
        hw.save(str(sdir / "hw_layers.onnx"))
        if runnable:  # FINN's Python execution of the HW layers (MVAU/VVAU/Thresholding/...): what gets built
            step("execute_hw", lambda: run_stage("hw_layers", hw))
        result["hw_nodes"] = _node_types(hw)
        dataflow, outside = step("dataflow_partition", lambda: dataflow_partition(hw, sdir / "partition"))
        result["outside_dataflow"] = outside
        dataflow.save(str(sdir / "dataflow_hw.onnx"))  # unspecialized HW layers (Python execution)
        result["io_map"] = io_map(hw, dataflow)
        spec = step("specialize", lambda: specialize(dataflow, job["part"]))
        folded, config = step("folding", lambda: fold(spec, job["target_cycles"]))
        (sdir / "folding_config.json").write_text(json.dumps(config, indent=2) + "\n")
        folded.save(str(sdir / "dataflow.onnx"))
        result["dataflow_nodes"] = _node_types(folded)
        res, res_dsp, cycles, perf = step("estimates", lambda: estimates(folded, job["part"], job["clock_mhz"]))
        for fname, data in (("estimate_layer_resources.json", res), ("estimate_layer_cycles.json", cycles),
                            ("estimate_network_performance.json", perf),
                            ("estimate_layer_resources_dsp.json", res_dsp)):
            (sdir / fname).write_text(json.dumps(data, indent=2) + "\n")
        result["ok"] = True
    except Exception:  # noqa: BLE001
        result["ok"] = False
    return result


def io_map(hw, dataflow) -> dict[str, list[int]]:
    """Positions in the segment's graph inputs/outputs of the dataflow partition's inputs/outputs.

    The partition's edge tensors are the segment's inputs/outputs behind FINN's NCHW<->NHWC Transposes.
    """
    ins = [i.name for i in hw.graph.input]
    outs = [o.name for o in hw.graph.output]

    def back(t: str) -> int:
        while t not in ins:
            t = hw.find_producer(t).input[0]
        return ins.index(t)

    def fwd(t: str) -> int:
        while t not in outs:
            t = hw.find_consumer(t).output[0]
        return outs.index(t)

    return {"inputs": [back(i.name) for i in dataflow.graph.input],
            "outputs": [fwd(o.name) for o in dataflow.graph.output]}


def stitch(net: dict, segments: dict, io_maps: dict):
    """One FINN dataflow graph of the whole network: our temporal ops + the segments' HW layers (NHWC).

    ``segments``: segment name -> partition model; ``io_maps``: segment name -> ``io_map``.
    """
    import copy

    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    nodes, inits, vinfo, dtypes = [], [], [], {}
    for unit in net["units"]:
        if unit["kind"] == "temporal":
            a = unit["attrs"]
            nodes.append(helper.make_node("PleiadesTemporalConv_rtl", [unit["input"]], [unit["output"]],
                                          domain="finn.custom_op.fpgadataflow.rtl", backend="fpgadataflow",
                                          name=unit["node"], **a))
            dtypes[unit["output"]] = a["outputDataType"]
            continue
        m = segments[unit["name"]]
        rename = {}
        for pos, i in zip(io_maps[unit["name"]]["inputs"], m.graph.input):
            rename[i.name] = unit["inputs"][pos]
        for pos, o in zip(io_maps[unit["name"]]["outputs"], m.graph.output):
            rename[o.name] = unit["outputs"][pos]

        def rn(t: str, seg: str = unit["name"]) -> str:
            return rename.get(t, f"{seg}/{t}") if t else t

        for node in m.graph.node:
            n = copy.deepcopy(node)
            n.name = f"{unit['name']}_{node.name}"
            n.input[:] = [rn(t) for t in node.input]
            n.output[:] = [rn(t) for t in node.output]
            nodes.append(n)
        for init in m.graph.initializer:
            i = copy.deepcopy(init)
            i.name = rn(init.name)
            inits.append(i)
        for vi in list(m.graph.value_info) + list(m.graph.output):
            v = copy.deepcopy(vi)
            v.name = rn(vi.name)
            vinfo.append(v)
        for t in {t for n in m.graph.node for t in (*n.input, *n.output) if t}:
            dt = m.get_tensor_datatype(t)
            if dt is not None:
                dtypes[rn(t)] = dt.name
    h, w, c = net["input_shape"]
    graph = helper.make_graph(
        nodes, "pleiades_network",
        [helper.make_tensor_value_info(net["input"], TensorProto.FLOAT, [1, h, w, c])],
        [helper.make_tensor_value_info(net["output"], TensorProto.FLOAT, [1, 1, 1, net["classes"]])],
        inits, value_info=[v for v in vinfo if v.name != net["output"]])
    model = ModelWrapper(helper.make_model(graph, producer_name="pleiades-fpga"))
    model.set_tensor_datatype(net["input"], DataType[net["input_dtype"]])
    for t, dt in dtypes.items():
        model.set_tensor_datatype(t, DataType[dt])
    from qonnx.transformation.infer_shapes import InferShapes

    return model.transform(InferShapes())


def generate_temporal_hdl(model, hdl_dir: Path, part: str, clock_mhz: float) -> dict[str, dict]:
    """FINN's code generation step (``generate_hdl``) of every temporal op: wrapper + our Verilog per node."""
    from qonnx.custom_op.registry import getCustomOp

    out = {}
    for node in model.get_nodes_by_op_type("PleiadesTemporalConv_rtl"):
        inst = getCustomOp(node)
        d = hdl_dir / node.name
        d.mkdir(parents=True, exist_ok=True)
        inst.set_nodeattr("code_gen_dir_ipgen", str(d))
        inst.generate_hdl(model, part, 1000.0 / clock_mhz)
        out[node.name] = {"top": inst.get_nodeattr("gen_top_module"), "files": inst.get_rtl_file_list(abspath=True),
                          "ipi_tcl": inst.code_generation_ipi()}
    return out


def run_network(job: dict, out: Path, results: dict, test: dict[str, np.ndarray]) -> dict:
    """The whole network as one FINN graph (temporal layers = our custom op): estimates and a stateful run."""
    from qonnx.core.modelwrapper import ModelWrapper

    from pleiades_fpga.hw.finn_backend import temporal_op

    net = job["network"]
    ndir = out / "network"
    ndir.mkdir(parents=True, exist_ok=True)
    res: dict = {"steps": {}}
    segs = {s["name"]: s for s in results["segments"]}
    try:
        progress("network", "stitch")
        folded = stitch(net, {n: ModelWrapper(str(out / n / "dataflow.onnx")) for n in segs},
                        {n: s["io_map"] for n, s in segs.items()})
        folded.save(str(ndir / "network_dataflow.onnx"))
        progress("network", "estimates")
        r, r_dsp, cycles, perf = estimates(folded, job["part"], job["clock_mhz"])
        for fname, data in (("estimate_layer_resources.json", r), ("estimate_layer_cycles.json", cycles),
                            ("estimate_network_performance.json", perf),
                            ("estimate_layer_resources_dsp.json", r_dsp)):
            (ndir / fname).write_text(json.dumps(data, indent=2) + "\n")
        res["steps"]["estimates"] = "ok"
        progress("network", "hdl")
        res["hdl"] = generate_temporal_hdl(folded, ndir / "hdl", job["part"], job["clock_mhz"])
        res["steps"]["hdl"] = "ok"
        progress("network", "execute")
        if "net/in" in test:
            exe = stitch(net, {n: ModelWrapper(str(out / n / "dataflow_hw.onnx")) for n in segs},
                         {n: s["io_map"] for n, s in segs.items()})
            from qonnx.core.onnx_exec import execute_onnx

            temporal_op.reset_state()
            frames = test["net/in"]  # (T, H, W, C) NHWC integers from reset
            logits = [execute_onnx(exe, {net["input"]: f[None].astype(np.float32)})[net["output"]].reshape(-1)
                      for f in frames]
            np.save(ndir / "logits.npy", np.stack(logits))
            res["steps"]["execute"] = "ok"
        res["ok"] = True
    except Exception as exc:  # noqa: BLE001 - reported, the segments' results stand
        res["ok"] = False
        res["error"] = f"{type(exc).__name__}: {exc}"
        (ndir / "traceback.txt").write_text(traceback.format_exc())
    return res


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()  # FINN+ settings without its build runner (no Vivado paths needed)
    sys.path.insert(0, job_repo_root(argv[1]))
    from pleiades_fpga.hw.finn_backend import temporal_op

    temporal_op.register()
    job = json.loads(Path(argv[1]).read_text())
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    test = dict(np.load(job["test_inputs"])) if job.get("test_inputs") else {}
    import finn

    results = {"finn_version": getattr(finn, "__version__", "unknown"), "part": job["part"],
               "clock_mhz": job["clock_mhz"], "target_cycles": job["target_cycles"], "segments": []}
    try:
        from importlib.metadata import version
        results["finn_version"] = version("finn-plus")
    except Exception:  # noqa: BLE001
        pass
    for seg in job["segments"]:
        results["segments"].append(run_segment(seg, job, out, test))
        (out / "worker_result.json").write_text(json.dumps(results, indent=2) + "\n")
    if job.get("network") and all(s.get("ok") for s in results["segments"]):
        results["network"] = run_network(job, out, results, test)
        (out / "worker_result.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
