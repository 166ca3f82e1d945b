"""Adapt the builder's graph to the backend's I/O contract and describe its layout.

One change is made: a ``logits_positions`` input (B, K) selects which positions
reach the LM head. The backend asks for each row's last real token after a
right-padded prefill (the builder's own ``prune_lm_head`` takes the last column,
which is padding for shorter rows), and the vocabulary projection is skipped
everywhere else: about a fifth of the prefill FLOPs on SmolLM2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llamatasks.backends.onnx.manifest import FileDigest, GraphInfo
from llamatasks_export.errors import ExportError

LOGITS_POSITIONS = "logits_positions"
_KV_DTYPES = {1: "float32", 10: "float16"}


def add_logits_positions(source: Path, target: Path) -> Any:
    """Rewrite ``source`` (weights stay in its external data file) into ``target``; returns the model proto."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source), load_external_data=False)
    graph = model.graph
    heads = [n for n in graph.node if "logits" in n.output]
    if len(heads) != 1 or any(i.name == LOGITS_POSITIONS for i in graph.input):
        raise ExportError(f"{source} does not have the decoder layout the exporter expects (one LM head)",
                          hint="the onnxruntime-genai version may be unsupported; see docs/export.md")
    head = heads[0]
    graph.input.append(helper.make_tensor_value_info(LOGITS_POSITIONS, TensorProto.INT64, ["batch_size", "num_logits"]))
    graph.initializer.append(helper.make_tensor("/logits_positions/axes", TensorProto.INT64, [1], [-1]))
    unsqueeze = helper.make_node("Unsqueeze", [LOGITS_POSITIONS, "/logits_positions/axes"],
                                 ["/logits_positions/indices"], name="/logits_positions/Unsqueeze")
    # GatherND with batch_dims=1: row b takes hidden[b, positions[b, k]] for every k.
    gather = helper.make_node("GatherND", [head.input[0], "/logits_positions/indices"], ["/logits_positions/hidden"],
                              name="/logits_positions/GatherND", batch_dims=1)
    head.input[0] = "/logits_positions/hidden"
    index = list(graph.node).index(head)
    graph.node.insert(index, gather)
    graph.node.insert(index, unsqueeze)
    logits = next(o for o in graph.output if o.name == "logits")
    logits.type.tensor_type.shape.dim[1].dim_param = "num_logits"
    onnx.save(model, str(target))
    return model


def describe(model: Any, config: dict[str, Any], files: dict[str, FileDigest], builder: str,
             execution_provider: str, quantization: dict[str, Any] | None) -> GraphInfo:
    """The GraphInfo the backend needs, read from the graph itself where it can be."""
    graph = model.graph
    inputs = {i.name: i for i in graph.input}
    layers = sum(1 for name in inputs if name.startswith("past_key_values.") and name.endswith(".key"))
    past = inputs.get("past_key_values.0.key")
    if past is None or layers == 0:
        raise ExportError("the built graph has no KV-cache inputs", hint="see docs/export.md for supported builders")
    dims = past.type.tensor_type.shape.dim
    heads = int(config.get("num_attention_heads", 1))
    head_size = dims[3].dim_value or int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    cos = next((t for t in graph.initializer if t.name == "cos_cache"), None)
    context = int(cos.dims[0]) if cos is not None else int(config.get("max_position_embeddings", 2048))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return GraphInfo(
        files=files, opset=opset, builder=builder, execution_provider=execution_provider,  # type: ignore[arg-type]
        num_layers=layers, num_kv_heads=dims[1].dim_value or int(config.get("num_key_value_heads", heads)),
        head_size=head_size, context_length=context,
        kv_dtype=_KV_DTYPES.get(past.type.tensor_type.elem_type, "float32"),  # type: ignore[arg-type]
        quantization=quantization,
    )
