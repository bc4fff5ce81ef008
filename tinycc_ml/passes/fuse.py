"""The fusion pass: a constant Pad folded into the window of the op that reads it.

A Pad that only feeds one Conv2d (regular or depthwise), AveragePool2d or MaxPool2d costs a
pass over memory (the padded copy, memset + memcpy) and a buffer the size of the padded
tensor; the consumer's own pads do the same work for free when the padding value is the
one the consumer pads with:

* Conv2d: a padded tap adds (x + input_offset) * w with x the input zero point, i.e. 0, so
  a Pad of value zp (a real 0.0) on H and W becomes conv pads. Any existing conv pads add up.
* AveragePool2d: the Pad's cells are real cells of value zp (a real 0.0) that the divisor
  counts, which is exactly what count_include_pad means (the raw TFLite sum adds zp per
  counted pad cell, the requantizing form adds 0: avgpool_params). So a pool whose own pads
  are zero takes the Pad's as counted pads; one with its own uncounted pads keeps the Pad
  (a window mixing counted and uncounted pads has no single divisor).
* MaxPool2d: its own pads never win the maximum, and a Pad cell cannot either exactly when it
  holds -128, the smallest int8 (a window of pad cells only gives -128 both ways). Another
  pad value changes maxima: that Pad stays.

It runs after the layout pass: a Pad reads and writes one layout (kernels/movement.py), so
the consumer then reads the Pad's input in the layout it read the Pad's output in.

Only spatial pads fold (a Pad on N or C stays), and only while the combined pad on each side
stays below the window's extent (every output keeps at least one input cell, the domain every
kernel variant handles), and only floor-mode pools (a ceil-mode output shape is defined
relative to the padded input). A Pad whose output is a graph output, or is read by another
node too, stays. Chains of Pads fold one after the other. Copy-only ops that move no byte
(Reshape, Transpose of unit dims) are already aliases (ir/layout.py is_alias); this pass
does not touch them.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ops
from ..ir.graph import Graph, Node
from .context import PassContext

POOL_KINDS = (ops.AveragePool2d.kind, ops.MaxPool2d.kind)
INT8_MIN = -128


def _floor_window(size: int, extent: int, stride: int, begin: int, end: int) -> int:
    return (size + begin + end - extent) // stride + 1


def _spatial_pads(pad: Node, graph: Graph) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of a 4-D NCHW Pad that pads only H and W, else None."""
    attrs: ops.Pad = pad.attrs  # type: ignore[assignment]
    if len(graph.tensor(pad.inputs[0]).shape) != 4 or len(attrs.pads) != 8:
        return None
    begins, ends = attrs.pads[:4], attrs.pads[4:]
    if begins[:2] != (0, 0) or ends[:2] != (0, 0):
        return None
    return begins[2], begins[3], ends[2], ends[3]


def _extent(consumer: Node, graph: Graph) -> tuple[int, int]:
    """The window's extent (dilated kernel) along H and W."""
    if consumer.kind == ops.Conv2d.kind:
        attrs: ops.Conv2d = consumer.attrs  # type: ignore[assignment]
        kh, kw = graph.tensor(consumer.inputs[1]).shape[2:]
        return attrs.dilations[0] * (kh - 1) + 1, attrs.dilations[1] * (kw - 1) + 1
    return consumer.attrs.kernel  # type: ignore[attr-defined]


def fused_attrs(pad: Node, consumer: Node, graph: Graph) -> ops.OpAttrs | None:
    """The consumer's attributes with `pad` folded in, or None when the fold would change
    what the consumer computes (see the module docstring)."""
    spatial = _spatial_pads(pad, graph)
    value = pad.attrs.value  # type: ignore[attr-defined]
    x, y = graph.tensor(pad.inputs[0]), graph.tensor(pad.outputs[0])
    if spatial is None or x.quant != y.quant or consumer.inputs[0] != pad.outputs[0]:
        return None
    if consumer.kind not in (ops.Conv2d.kind, *POOL_KINDS):
        return None
    attrs = consumer.attrs
    pads = tuple(a + b for a, b in zip(attrs.pads, spatial))  # type: ignore[attr-defined]
    extent = _extent(consumer, graph)
    if any(p >= extent[i % 2] for i, p in enumerate(pads)):
        return None
    if consumer.kind == ops.Conv2d.kind:
        return replace(attrs, pads=pads) if value == y.quant.zp else None
    out_h, out_w = graph.tensor(consumer.outputs[0]).shape[2:]
    strides, own = attrs.strides, attrs.pads  # type: ignore[attr-defined]
    padded_h, padded_w = y.shape[2:]
    if (out_h, out_w) != (_floor_window(padded_h, extent[0], strides[0], own[0], own[2]),
                          _floor_window(padded_w, extent[1], strides[1], own[1], own[3])):
        return None  # ceil mode
    if consumer.kind == ops.MaxPool2d.kind:
        return replace(attrs, pads=pads) if value == INT8_MIN else None
    if value != y.quant.zp:
        return None
    if any(own) and not attrs.count_include_pad:  # type: ignore[attr-defined]
        return None
    return replace(attrs, pads=pads, count_include_pad=True)


def _fold_one(graph: Graph) -> Graph | None:
    """The graph with the first foldable Pad folded, or None when there is none."""
    readers = graph.consumers()
    outputs = set(graph.read_after_invoke())
    for pad in graph.nodes:
        if pad.kind != ops.Pad.kind:
            continue
        (y,) = pad.outputs
        if y in outputs or len(readers[y]) != 1:
            continue
        (consumer,) = readers[y]
        attrs = fused_attrs(pad, consumer, graph)
        if attrs is None:
            continue
        fused = replace(consumer, attrs=attrs, inputs=(pad.inputs[0], *consumer.inputs[1:]))
        nodes = tuple(fused if n is consumer else n for n in graph.nodes if n is not pad)
        tensors = {name: t for name, t in graph.tensors.items() if name != y}
        dim_orders = {name: order for name, order in graph.dim_orders.items() if name != y}
        return replace(graph.with_nodes(nodes, tensors), dim_orders=dim_orders)
    return None


def fuse_pads(graph: Graph, context: PassContext) -> Graph:
    """Fold every Pad that can be folded into its consumer's pads (module docstring)."""
    while (folded := _fold_one(graph)) is not None:
        graph = folded
    return graph
