"""float32 -> float16 conversion of an exported ONNX graph, keeping float32 input and output.

Weights, constants and every float tensor in between become float16; a Cast after the input
and before the output keeps the card's interface (NCHW float32). Resize's `roi`/`scales`
inputs stay float32, as the operator requires.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16


def convert(model: onnx.ModelProto) -> onnx.ModelProto:
    g = model.graph
    keep32 = set()
    for node in g.node:
        if node.op_type == "Resize":
            keep32.update(node.input[1:3])
    for i, init in enumerate(g.initializer):
        if init.data_type == F32 and init.name not in keep32:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == F32 and node.output[0] not in keep32:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16)))
        elif node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == F32 and node.output[0] not in keep32:
                    a.i = F16
    # the interface stays float32: rename the real input/output and cast at the edges
    (inp,), (out,) = g.input, g.output
    for node in g.node:
        node.input[:] = [inp.name + "_f16" if n == inp.name else n for n in node.input]
        node.output[:] = [out.name + "_f16" if n == out.name else n for n in node.output]
    g.node.insert(0, helper.make_node("Cast", [inp.name], [inp.name + "_f16"], to=F16))
    g.node.append(helper.make_node("Cast", [out.name + "_f16"], [out.name], to=F32))
    del g.value_info[:]
    return model


def convert_file(path: str) -> None:
    model = convert(onnx.load(path))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def compress_weights(model: onnx.ModelProto, min_elements: int = 16) -> onnx.ModelProto:
    """Half the file, same arithmetic: float32 weights are stored as float16 and cast back to
    float32 by a Cast node, which onnxruntime folds away when it loads the graph."""
    g = model.graph
    casts = []
    for i, init in enumerate(g.initializer):
        if init.data_type != F32 or int(np.prod(init.dims)) < min_elements:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_f16")
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=F32))
        g.initializer[i].CopyFrom(half)
    for node in reversed(casts):
        g.node.insert(0, node)
    return model


def compress_file(path: str) -> None:
    model = compress_weights(onnx.load(path))
    onnx.checker.check_model(model)
    onnx.save(model, path)
