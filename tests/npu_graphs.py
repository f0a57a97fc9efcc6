"""Small hand-built ONNX graphs for the NPU preflight: a detector with a TopK + NMS tail, and one
graph per conditional rule (passing and failing variant). Each graph loads in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _init(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def detector(opset: int = 17) -> onnx.ModelProto:
    """Conv backbone -> boxes [1, 64, 4] and class scores [1, 2, 64] -> TopK and NonMaxSuppression.

    The NMS output shape ([N, 3]) depends on the data: the decode/NMS tail every NPU cuts off.
    """
    rng = np.random.default_rng(0)
    inits = [
        _init("w1", rng.normal(0, 0.2, (8, 3, 3, 3)).astype(np.float32)),
        _init("w2", rng.normal(0, 0.2, (6, 8, 1, 1)).astype(np.float32)),
        _init("shape", np.array([1, 6, 64], np.int64)),
        _init("s0", np.array([0], np.int64)), _init("s4", np.array([4], np.int64)),
        _init("e4", np.array([4], np.int64)), _init("e6", np.array([6], np.int64)),
        _init("ax1", np.array([1], np.int64)), _init("ax2", np.array([2], np.int64)),
        _init("k", np.array([10], np.int64)), _init("max_out", np.array([10], np.int64)),
        _init("iou", np.array([0.5], np.float32)), _init("thr", np.array([0.3], np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["image-", "w1"], ["f"], name="backbone_conv", strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["f"], ["r"], name="backbone_relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="backbone_pool", kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["p", "w2"], ["h"], name="head_conv"),
        helper.make_node("Reshape", ["h", "shape"], ["flat"], name="head_flatten"),
        helper.make_node("Transpose", ["flat"], ["t"], name="decode_transpose", perm=[0, 2, 1]),
        helper.make_node("Slice", ["t", "s0", "e4", "ax2"], ["boxes"], name="decode_boxes"),
        helper.make_node("Slice", ["flat", "s4", "e6", "ax1"], ["logits"], name="decode_logits"),
        helper.make_node("Sigmoid", ["logits"], ["scores"], name="decode_scores"),
        helper.make_node("TopK", ["scores", "k"], ["top_scores", "top_index"], name="topk", axis=-1),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["selected"], name="nms"),
    ]
    graph = helper.make_graph(
        nodes, "detector", [helper.make_tensor_value_info("image-", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["n", 3]),
         helper.make_tensor_value_info("top_scores", TensorProto.FLOAT, [1, 2, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def parse(text: str) -> onnx.ModelProto:
    model = onnx.parser.parse_model(text)
    onnx.checker.check_model(model, full_check=True)
    return model


_HEAD = '<ir_version: 8, opset_import: ["" : 17]>\n'

# condition -> (target, op, graph that satisfies it, graph that breaks it). One node under test, named "n".
CONDITION_GRAPHS = {
    "attr_in": ("rknn", "Resize",
                _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,16,16] y) <float[4] s = {1.0, 1.0, 2.0, 2.0}>'
                        ' { y = Resize <mode = "nearest"> (x, , s) }',
                _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,16,16] y) <float[4] s = {1.0, 1.0, 2.0, 2.0}>'
                        ' { y = Resize <mode = "cubic"> (x, , s) }'),
    "per_channel_axis_in": ("tidl", "DequantizeLinear",
                            _HEAD + 'g (uint8[1,2,4,4] x) => (float[1,2,4,4] y) <float[2] s = {0.1, 0.2}, uint8[2] z = {0, 0}>'
                                    ' { y = DequantizeLinear <axis = 1> (x, s, z) }',
                            _HEAD + 'g (uint8[2,2,4,4] x) => (float[2,2,4,4] y) <float[2] s = {0.1, 0.2}, uint8[2] z = {0, 0}>'
                                    ' { y = DequantizeLinear <axis = 0> (x, s, z) }'),
    "input_constant": ("tidl", "Reshape",
                       _HEAD + 'g (float[1,4,2,2] x) => (float[1,16] y) <int64[2] s = {1, 16}> { y = Reshape(x, s) }',
                       _HEAD + 'g (float[1,4,2,2] x, int64[2] s) => (float[1,16] y) { y = Reshape(x, s) }'),
    "input_variable": ("tidl", "Gather",
                       _HEAD + 'g (float[1,8,4] x) => (float[1,2,4] y) <int64[2] i = {0, 3}> { y = Gather <axis = 1> (x, i) }',
                       _HEAD + 'g (int64[2] i) => (float[2,4] y) <float[8,4] t = {' + ', '.join(['0.5'] * 32) + '}>'
                               ' { y = Gather <axis = 0> (t, i) }'),
    "min_inputs": ("tidl", "Slice",
                   _HEAD + 'g (float[1,4,8,8] x) => (float[1,4,8,4] y) <int64[1] a = {0}, int64[1] b = {4}, int64[1] c = {3}>'
                           ' { y = Slice(x, a, b, c) }',
                   _HEAD + 'g (float[1,4,8,8] x) => (float[1,4,8,4] y) <int64[4] a = {0, 0, 0, 0}, int64[4] b = {1, 4, 8, 4}>'
                           ' { y = Slice(x, a, b) }'),
    "max_inputs": ("tidl", "Max",
                   _HEAD + 'g (float[1,4] x, float[1,4] w) => (float[1,4] y) { y = Max(x, w) }',
                   _HEAD + 'g (float[1,4] x, float[1,4] w, float[1,4] v) => (float[1,4] y) { y = Max(x, w, v) }'),
    "batch_one": ("rknn", "Softmax",
                  _HEAD + 'g (float[1,10] x) => (float[1,10] y) { y = Softmax(x) }',
                  _HEAD + 'g (float[4,10] x) => (float[4,10] y) { y = Softmax(x) }'),
    "rank_in": ("rknn", "Resize",
                _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,16,16] y) <float[4] s = {1.0, 1.0, 2.0, 2.0}>'
                        ' { y = Resize <mode = "linear"> (x, , s) }',
                _HEAD + 'g (float[1,3,8] x) => (float[1,3,16] y) <float[3] s = {1.0, 1.0, 2.0}>'
                        ' { y = Resize <mode = "linear"> (x, , s) }'),
    "max_rank": ("tidl", "Pad",
                 _HEAD + 'g (float[1,2,4,4] x) => (float[1,2,6,6] y) <int64[8] p = {0, 0, 1, 1, 0, 0, 1, 1}> { y = Pad(x, p) }',
                 _HEAD + 'g (float[1,1,1,1,1,2,4] x) => (float[1,1,1,1,1,2,6] y) <int64[14] p = {0,0,0,0,0,0,1,0,0,0,0,0,0,1}>'
                         ' { y = Pad(x, p) }'),
    "min_rank": ("tidl", "InstanceNormalization",
                 _HEAD + 'g (float[1,2,4] x) => (float[1,2,4] y) <float[2] s = {1.0, 1.0}, float[2] b = {0.0, 0.0}>'
                         ' { y = InstanceNormalization(x, s, b) }',
                 _HEAD + 'g (float[1,2] x) => (float[1,2] y) <float[2] s = {1.0, 1.0}, float[2] b = {0.0, 0.0}>'
                         ' { y = InstanceNormalization(x, s, b) }'),
    "max_output_rank": ("tidl", "Unsqueeze",
                        _HEAD + 'g (float[2,3] x) => (float[1,2,3] y) <int64[1] a = {0}> { y = Unsqueeze(x, a) }',
                        _HEAD + 'g (float[2,3,2,2,2,2] x) => (float[1,2,3,2,2,2,2] y) <int64[1] a = {0}> { y = Unsqueeze(x, a) }'),
    "max_nonsingleton_dims": ("tidl", "Relu",
                              _HEAD + 'g (float[1,2,3,4] x) => (float[1,2,3,4] y) { y = Relu(x) }',
                              _HEAD + 'g (float[2,2,2,2,2,2,2] x) => (float[2,2,2,2,2,2,2] y) { y = Relu(x) }'),
    "max_size": ("tidl", "Pow",
                 _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float[1] e = {2.0}> { y = Pow(x, e) }',
                 _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float[4] e = {2.0, 2.0, 3.0, 2.0}> { y = Pow(x, e) }'),
    "max_plane": ("tidl", "GlobalAveragePool",
                  _HEAD + 'g (float[1,8,32,32] x) => (float[1,8,1,1] y) { y = GlobalAveragePool(x) }',
                  _HEAD + 'g (float[1,8,64,64] x) => (float[1,8,1,1] y) { y = GlobalAveragePool(x) }'),
    "axis_in": ("tidl", "Softmax",
                _HEAD + 'g (float[1,4,10] x) => (float[1,4,10] y) { y = Softmax <axis = -1> (x) }',
                _HEAD + 'g (float[1,4,10] x) => (float[1,4,10] y) { y = Softmax <axis = 0> (x) }'),
    "equal_strides": ("tidl", "Conv",
                      _HEAD + 'g (float[1,1,8,8] x) => (float[1,1,4,4] y) <float[1,1,1,1] w = {1.0}>'
                              ' { y = Conv <strides = [2, 2]> (x, w) }',
                      _HEAD + 'g (float[1,1,8,8] x) => (float[1,1,8,4] y) <float[1,1,1,1] w = {1.0}>'
                              ' { y = Conv <strides = [1, 2]> (x, w) }'),
    "depthwise_kernels": ("tidl", "Conv",
                          _HEAD + 'g (float[1,2,8,8] x) => (float[1,2,8,8] y) <float[2,1,3,3] w = {' + ', '.join(['0.1'] * 18) + '}>'
                                  ' { y = Conv <group = 2, pads = [1, 1, 1, 1]> (x, w) }',
                          _HEAD + 'g (float[1,2,8,8] x) => (float[1,2,4,4] y) <float[2,1,9,9] w = {' + ', '.join(['0.1'] * 162) + '}>'
                                  ' { y = Conv <group = 2, strides = [2, 2], pads = [4, 4, 4, 4]> (x, w) }'),
    "constant_nonnegative": ("qnn", "Gather",
                             _HEAD + 'g (float[1,8] x) => (float[1,2] y) <int64[2] i = {0, 3}> { y = Gather <axis = 1> (x, i) }',
                             _HEAD + 'g (float[1,8] x) => (float[1,2] y) <int64[2] i = {0, -1}> { y = Gather <axis = 1> (x, i) }'),
    "clip_range": ("tidl", "Clip",
                   _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float lo = {0.0}, float hi = {6.0}> { y = Clip(x, lo, hi) }',
                   _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float lo = {0.000001}, float hi = {6.0}> { y = Clip(x, lo, hi) }'),
    "resize_scales": ("tidl", "Resize",
                      _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,16,16] y) <float[4] s = {1.0, 1.0, 2.0, 2.0}>'
                              ' { y = Resize <mode = "nearest", nearest_mode = "round_prefer_ceil"> (x, , s) }',
                      _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,24,24] y) <float[4] s = {1.0, 1.0, 3.0, 3.0}>'
                              ' { y = Resize <mode = "nearest", nearest_mode = "round_prefer_ceil"> (x, , s) }'),
    "terminal_only": ("tidl", "Cast",
                      _HEAD + 'g (float[1,4] x) => (float16[1,4] y) { y = Cast <to = 10> (x) }',
                      _HEAD + 'g (float[1,4] x) => (float[1,4] y) { r = Relu(x) c = Cast <to = 10> (r) y = Cast <to = 1> (c) }'),
    "gelu_pattern": ("tidl", "Erf",
                     _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float k = {1.4142135}, float one = {1.0}, float h = {0.5}>'
                             ' { d = Div(x, k) e = Erf(d) a = Add(e, one) m = Mul(x, a) y = Mul(m, h) }',
                     _HEAD + 'g (float[1,4] x) => (float[1,4] y) { y = Erf(x) }'),
    "attr_absent": ("intel-npu", "NegativeLogLikelihoodLoss",
                    _HEAD + 'g (float[2,3] x, int64[2] t) => (float y) { y = NegativeLogLikelihoodLoss(x, t) }',
                    _HEAD + 'g (float[2,3] x, int64[2] t) => (float y) { y = NegativeLogLikelihoodLoss <ignore_index = 1> (x, t) }'),
    "input_absent": ("intel-npu", "Dropout",
                     _HEAD + 'g (float[1,4] x) => (float[1,4] y) { y = Dropout(x) }',
                     _HEAD + 'g (float[1,4] x) => (float[1,4] y) <float r = {0.5}, bool t = {1}> { y = Dropout(x, r, t) }'),
    "input_type_not": ("intel-npu", "Equal",
                       _HEAD + 'g (int32[2] a, int32[2] b) => (bool[2] y) { y = Equal(a, b) }',
                       '<ir_version: 9, opset_import: ["" : 19]>\n'  # Equal takes strings from opset 19
                       'g (string[2] a, string[2] b) => (bool[2] y) { y = Equal(a, b) }'),
    "never": ("tidl", "Dropout",
              None,
              _HEAD + 'g (float[1,4] x) => (float[1,4] y) { y = Dropout(x) }'),
}

# Graphs compiled with rknn-toolkit2 2.5.0 (benchmarks/npu_oracle/rknn-2.5.0-results.json), by file stem.
ORACLE_GRAPHS = {
    "einsum": _HEAD + 'g (float[1,4,8] x, float[1,8,4] w) => (float[1,4,4] y) { y = Einsum <equation = "bij,bjk->bik"> (x, w) }',
    "topk": _HEAD + 'g (float[1,16] x) => (float[1,4] y, int64[1,4] i) <int64[1] k = {4}> { y, i = TopK(x, k) }',
    "relu": _HEAD + 'g (float[1,3,8,8] x) => (float[1,3,8,8] y) { y = Relu(x) }',
}


def oracle_graph(stem: str) -> onnx.ModelProto | None:
    """The hand-built graph recorded under `stem` (e.g. "batch_one_fail", "einsum", "detector"), if any."""
    if stem == "detector":
        return detector()
    if stem in ORACLE_GRAPHS:
        return parse(ORACLE_GRAPHS[stem])
    check, _, variant = stem.rpartition("_")
    if check in CONDITION_GRAPHS and variant in ("pass", "fail"):
        return parse(CONDITION_GRAPHS[check][2 if variant == "pass" else 3])
    return None


def qdq_conv(act_scale: float, act_zero_point: int, act_dtype=np.int8, opset: int = 17) -> onnx.ModelProto:
    """image -> Q -> DQ -> Conv (int8 symmetric weights, scale 2^-6) -> Q -> DQ: a one-layer QDQ artifact."""
    weight = np.round(np.random.default_rng(0).normal(0, 20, (4, 3, 3, 3))).clip(-127, 127).astype(np.int8)
    inits = [_init("w_q", weight), _init("w_scale", np.float32(2.0 ** -6)), _init("w_zp", np.int8(0)),
             _init("a_scale", np.float32(act_scale)), _init("a_zp", np.asarray(act_zero_point, act_dtype))]
    nodes = [
        helper.make_node("QuantizeLinear", ["image-", "a_scale", "a_zp"], ["x_q"], name="input_q"),
        helper.make_node("DequantizeLinear", ["x_q", "a_scale", "a_zp"], ["x"], name="input_dq"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], name="weight_dq"),
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["y", "a_scale", "a_zp"], ["y_q"], name="output_q"),
        helper.make_node("DequantizeLinear", ["y_q", "a_scale", "a_zp"], ["out"], name="output_dq"),
    ]
    graph = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("image-", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model
