"""The schedule: the op order that minimises the layer-wise peak of live bytes.

For a chain there is one order; for a DAG (branches, residuals, Concat, squeeze-excite)
the order decides which tensors are alive together. This step picks, among all
topological orders, one whose layer-wise peak (memory/bounds.py) is smallest:

* cost model, exactly the one of memory/liveness.py: tensors joined by alias nodes
  (Reshape/Transpose that move no byte) are one buffer; a buffer is live from the step
  that writes it to the last step that reads it; the graph input is live from the
  start, the graph output to the end; a node's kernel scratch is live at its step.
  Alias nodes cost nothing: each is placed right after the op that makes its input.
* exact search: dynamic programming over the sets of executed ops (the memo key; the
  bytes live between steps depend only on the set), level by level, keeping for each
  set the smallest peak reaching it, pruned by the best order known. It finishes
  quickly on chains and near-chains (the MLPerf Tiny models, residual blocks,
  Inception-style blocks of a few branches).
* beyond that (too many sets, or the time limit reached): the best of the graph's own
  order, a greedy order (next the ready op whose step needs the fewest bytes) and a
  beam search (the same dynamic programming keeping only the best sets per level),
  reported as not proven minimal.

The graph's own order of ops is kept whenever nothing beats it strictly, so a chain
or an already good order is never shuffled. The result is deterministic except where the
time limit cuts the exact search short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..ir.graph import Graph, Node
from ..ir.layout import alias_groups, is_alias
from ..memory.bounds import live_bytes_per_step
from ..memory.liveness import buffer_requests

DEFAULT_TIME_LIMIT = 2.0  # seconds
MAX_STATES = 300_000  # sets of executed ops in all (memo + back pointers) before the exact search gives up
BEAM_WIDTH = 64


@dataclass(frozen=True)
class Schedule:
    order: tuple[Node, ...]  # every node of the graph, aliases included
    peak_bytes: int  # layer-wise peak of `order`
    file_order_bytes: int  # layer-wise peak of the graph's own node order, as it stands
    exact: bool  # True: no topological order has a smaller layer-wise peak
    method: str  # "graph order", "dynamic programming", "greedy" or "beam search"

    @property
    def reordered(self) -> bool:
        return self.method != "graph order"


class _Model:
    """The graph as the search sees it: real ops, buffers (alias groups), bytes."""

    def __init__(self, graph: Graph, scratch: Mapping[str, int]):
        self.graph = graph
        self.aliases = tuple(n for n in graph.nodes if is_alias(n, graph))
        self.ops = tuple(n for n in graph.nodes if not is_alias(n, graph))
        group = alias_groups(graph, graph.nodes)
        roots = sorted({group[t.name] for t in graph.activations()})
        index = {root: k for k, root in enumerate(roots)}
        size = [0] * len(roots)
        for t in graph.activations():
            g = index[group[t.name]]
            size[g] = max(size[g], t.nbytes)
        self.size = size
        self.readers = [0] * len(roots)  # bitmask of ops reading each buffer
        producer: dict[int, int] = {}
        self.ins: list[tuple[int, ...]] = []
        self.outs: list[tuple[int, ...]] = []
        for k, node in enumerate(self.ops):
            ins = {index[group[x]] for x in node.inputs if x and not graph.tensor(x).is_constant}
            outs = {index[group[y]] for y in node.outputs}
            for g in ins:
                self.readers[g] |= 1 << k
            for g in outs:
                producer[g] = k
            self.ins.append(tuple(sorted(ins)))
            self.outs.append(tuple(sorted(outs)))
        self.preds = [0] * len(self.ops)
        for k in range(len(self.ops)):
            for g in self.ins[k]:
                if g in producer:
                    self.preds[k] |= 1 << producer[g]
        self.pinned = {index[group[t]] for t in graph.read_after_invoke()}  # live to the end
        self.initial = tuple(sorted({index[group[t]] for t in graph.input_tensors()}))
        self.scratch = [int(scratch.get(node.name, 0)) for node in self.ops]
        self.out_bytes = [sum(size[g] for g in self.outs[k]) for k in range(len(self.ops))]
        self.full = (1 << len(self.ops)) - 1

    def start_live(self) -> int:
        return sum(self.size[g] for g in self.initial)

    def step_bytes(self, live: int, k: int) -> int:
        return live + self.out_bytes[k] + self.scratch[k]

    def after(self, done: int, live: int, k: int) -> int:
        """Bytes live once op k has run (done already includes k)."""
        live += self.out_bytes[k]
        candidates = set(self.ins[k]) | set(self.outs[k])
        if done == 1 << k:
            candidates |= set(self.initial)  # an unread graph input dies after the first step
        for g in candidates:
            if g not in self.pinned and self.readers[g] & ~done == 0:
                live -= self.size[g]
        return live

    def ready(self, done: int) -> list[int]:
        return [k for k in range(len(self.ops)) if not done >> k & 1 and self.preds[k] & ~done == 0]

    def peak(self, order: Sequence[int]) -> int:
        # The graph input is live at step 0 even when only alias nodes run.
        live, done = self.start_live(), 0
        peak = live if self.graph.nodes else 0
        for k in order:
            peak = max(peak, self.step_bytes(live, k))
            done |= 1 << k
            live = self.after(done, live, k)
        return peak

    def node_order_bytes(self, nodes: Sequence[Node], scratch: Mapping[str, int]) -> int:
        """Layer-wise peak of a full node order, aliases where they stand (memory/liveness.py)."""
        live = live_bytes_per_step(buffer_requests(self.graph, nodes, {}))
        return max((v + int(scratch.get(n.name, 0)) for v, n in zip(live, nodes)), default=0)

    def nodes(self, order: Sequence[int]) -> tuple[Node, ...]:
        """The real ops in `order`, each alias node right after its input is made."""
        made = set(self.graph.input_tensors())
        pending = list(self.aliases)
        result: list[Node] = []

        def flush() -> None:
            progress = True
            while progress:
                progress = False
                for node in list(pending):
                    if node.inputs[0] in made:
                        pending.remove(node)
                        result.append(node)
                        made.update(node.outputs)
                        progress = True

        flush()
        for k in order:
            result.append(self.ops[k])
            made.update(self.ops[k].outputs)
            flush()
        result.extend(pending)  # aliases of nothing the graph makes: keep them, at the end
        return tuple(result)


def _greedy(model: _Model) -> list[int]:
    done, live, order = 0, model.start_live(), []
    while done != model.full:
        def cost(k: int) -> tuple[int, int, int]:
            return model.step_bytes(live, k), model.after(done | 1 << k, live, k), k
        k = min(model.ready(done), key=cost)
        order.append(k)
        done |= 1 << k
        live = model.after(done, live, k)
    return order


def _search(model: _Model, bound: int, width: int | None, deadline: float) -> tuple[list[int] | None, bool]:
    """Level-by-level DP over executed-op sets; only peaks strictly below `bound` survive.

    width None: exact (returns (order or None, True)), unless the sets exceed MAX_STATES
    or time runs out (then (None, False)). width w: keep the w best sets per level.
    """
    frontier: dict[int, tuple[int, int]] = {0: (0, model.start_live())}  # set -> (peak, live)
    parents: list[dict[int, tuple[int, int]]] = []
    states = 0
    for _level in range(len(model.ops)):
        nxt: dict[int, tuple[int, int]] = {}
        back: dict[int, tuple[int, int]] = {}
        for done, (peak, live) in frontier.items():
            for k in model.ready(done):
                p = max(peak, model.step_bytes(live, k))
                if p >= bound:
                    continue
                key = done | 1 << k
                if key not in nxt or p < nxt[key][0]:
                    nxt[key] = (p, model.after(key, live, k) if key not in nxt else nxt[key][1])
                    back[key] = (done, k)
            if time.monotonic() > deadline:
                return None, False
        if not nxt:
            return None, width is None
        states += len(nxt)
        if width is None and states > MAX_STATES:
            return None, False
        if width is not None and len(nxt) > width:
            keep = sorted(nxt, key=lambda s: (nxt[s][0], nxt[s][1], s))[:width]
            nxt = {s: nxt[s] for s in keep}
        frontier = nxt
        parents.append(back)
    order: list[int] = []
    key = model.full
    for back in reversed(parents):
        key, k = back[key]
        order.append(k)
    return order[::-1], width is None


def schedule(graph: Graph, scratch: Mapping[str, int] | None = None,
             time_limit: float = DEFAULT_TIME_LIMIT) -> Schedule:
    """The op order with the smallest layer-wise peak (exact when the search finishes)."""
    start, limit = time.monotonic(), max(0.0, time_limit)
    model = _Model(graph, scratch or {})
    position = {node.name: k for k, node in enumerate(model.ops)}
    file_order = [position[node.name] for node in graph.nodes if node.name in position]
    # The file's own order as it stands; kept, its aliases move next to their inputs, which
    # can only shorten lifetimes.
    file_bytes = model.node_order_bytes(graph.nodes, scratch or {})
    best_order, best_bytes, method = file_order, model.peak(file_order), "graph order"
    greedy = _greedy(model)
    if model.peak(greedy) < best_bytes:
        best_order, best_bytes, method = greedy, model.peak(greedy), "greedy"
    # The exact search may use most of the time; the beam search, if needed, the rest.
    found, exact = _search(model, best_bytes, None, start + 0.75 * limit)
    if found is not None and model.peak(found) < best_bytes:
        best_order, best_bytes, method = found, model.peak(found), "dynamic programming"
    elif not exact:
        beam, _ = _search(model, best_bytes, BEAM_WIDTH, start + limit)
        if beam is not None and model.peak(beam) < best_bytes:
            best_order, best_bytes, method = beam, model.peak(beam), "beam search"
    return Schedule(model.nodes(best_order), best_bytes, file_bytes, exact, method)


def scratch_bytes(calls: Mapping[str, Sequence[object]]) -> dict[str, int]:
    """node -> bytes of kernel scratch its calls need (KernelCall.scratch_bytes)."""
    return {name: sum(getattr(c, "scratch_bytes", 0) for c in node_calls) for name, node_calls in calls.items()}
