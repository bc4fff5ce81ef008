"""Text form of a Graph for `tinyc compile --dump-ir`: one line per tensor and node."""

from __future__ import annotations

import dataclasses

from ..ir.graph import Graph, Tensor


def _shape(t: Tensor) -> str:
    return f"{t.dtype.value}[{','.join(map(str, t.shape))}]"


def _attrs(node_attrs: object) -> str:
    parts = []
    for f in dataclasses.fields(node_attrs):
        value = getattr(node_attrs, f.name)
        if f.name == "table":
            value = f"<{len(value)} entries>"
        parts.append(f"{f.name}={value}")
    return ", ".join(parts)


def format_graph(graph: Graph, stage: str = "") -> str:
    lines = [f"# IR of {graph.name}" + (f" after {stage}" if stage else "")]
    for io in graph.inputs:
        lines.append(f"input  {io.tensor}: {_shape(graph.tensor(io.tensor))} (caller: {io.onnx_dtype}{list(io.shape)})")
    for io in graph.outputs:
        lines.append(f"output {io.tensor}: {_shape(graph.tensor(io.tensor))} (caller: {io.onnx_dtype}{list(io.shape)})")
    for node in graph.nodes:
        ins = ", ".join(n if n else "-" for n in node.inputs)
        outs = []
        for name in node.outputs:
            t = graph.tensor(name)
            order = f" order{graph.dim_orders[name]}" if name in graph.dim_orders else ""
            q = f" q(s={t.quant.scale[0]:.6g}, zp={t.quant.zero_point[0]})" if t.quant and t.quant.is_per_tensor else ""
            outs.append(f"{name}: {_shape(t)}{order}{q}")
        lines.append(f"{node.name}: {node.kind}({_attrs(node.attrs)})")
        lines.append(f"    ({ins}) -> {', '.join(outs)}")
    return "\n".join(lines) + "\n"
