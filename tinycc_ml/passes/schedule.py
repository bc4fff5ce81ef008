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
* beyond that (the exact search explored EXACT_STATE_BUDGET states without finishing):
  the best of the graph's own order, a greedy order (next the ready op whose step needs
  the fewest bytes) and a beam search (the same dynamic programming keeping only the
  BEAM_WIDTH best sets per level; dropped if it needs more than BEAM_STATE_BUDGET states),
  reported as not proven minimal.

Both searches are bounded by a COUNT of states explored (one state: one ready op tried
on one set of executed ops), never by the clock, so the same graph gives the same order
on any machine under any load. The time limit is only an outer safety net for graphs so
large that even the budgets take too long: when it cuts a search short the result is
the best order found so far and `Schedule.time_limited` says so (the compile summary
and report.json repeat it), because only then may the order depend on the machine.

The graph's own order of ops is kept whenever nothing beats it strictly, so a chain
or an already good order is never shuffled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ..ir.graph import Graph, Node
from ..ir.layout import alias_groups, is_alias
from ..memory.bounds import live_bytes_per_step
from ..memory.liveness import buffer_requests

# The budgets decide the result; together they take about 0.5 s on a 2-core machine
# shared by several jobs. The time limit is the safety net, far above that.
EXACT_STATE_BUDGET = 50_000  # states the exact search may explore before it gives up
BEAM_STATE_BUDGET = 50_000  # states the beam search may explore; beyond, the best order so far stands
DEFAULT_TIME_LIMIT = 10.0  # seconds
BEAM_WIDTH = 64


@dataclass(frozen=True)
class Schedule:
    order: tuple[Node, ...]  # every node of the graph, aliases included
    peak_bytes: int  # layer-wise peak of `order`
    file_order_bytes: int  # layer-wise peak of the graph's own node order, as it stands
    exact: bool  # True: no topological order has a smaller layer-wise peak
    method: str  # "graph order", "dynamic programming", "greedy" or "beam search"
    states_explored: int = 0  # by the exact and the beam search together (their budgets bound it)
    time_limited: bool = False  # the safety-net time limit cut a search short: the order may depend on the machine

    @property
    def reordered(self) -> bool:
        return self.method != "graph order"


def _bits(mask: int) -> list[int]:
    """The set bits of mask, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


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
        # For the search's inner loop: what running op k may free, as (readers, bytes) of
        # each buffer it touches that is not pinned (plus the graph inputs when k runs first),
        # and the ops that may become ready once k has run.
        def frees(buffers: set[int]) -> tuple[tuple[int, int], ...]:
            return tuple((self.readers[g], size[g]) for g in sorted(buffers) if g not in self.pinned)
        self.frees = [frees(set(self.ins[k]) | set(self.outs[k])) for k in range(len(self.ops))]
        self.frees_first = [frees(set(self.ins[k]) | set(self.outs[k]) | set(self.initial))
                            for k in range(len(self.ops))]
        self.successors = [tuple(j for j in range(len(self.ops)) if self.preds[j] >> k & 1)
                           for k in range(len(self.ops))]

    def start_live(self) -> int:
        return sum(self.size[g] for g in self.initial)

    def step_bytes(self, live: int, k: int) -> int:
        return live + self.out_bytes[k] + self.scratch[k]

    def after(self, done: int, live: int, k: int) -> int:
        """Bytes live once op k has run (done already includes k): a buffer it touches dies
        when no op left reads it (an unread graph input dies after the first step)."""
        live += self.out_bytes[k]
        for readers, size in self.frees_first[k] if done == 1 << k else self.frees[k]:
            if readers & ~done == 0:
                live -= size
        return live

    def ready_mask(self, done: int) -> int:
        """The ops not in `done` whose producers all are, as a bitmask."""
        mask = 0
        for k in range(len(self.ops)):
            if not done >> k & 1 and self.preds[k] & ~done == 0:
                mask |= 1 << k
        return mask

    def ready_after(self, ready: int, done: int, k: int) -> int:
        """ready_mask(done) from the ready mask before op k ran (done includes k)."""
        ready &= ~(1 << k)
        for j in self.successors[k]:
            if self.preds[j] & ~done == 0:
                ready |= 1 << j
        return ready

    def ready(self, done: int) -> list[int]:
        return _bits(self.ready_mask(done))

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


@dataclass(frozen=True)
class _Outcome:
    order: list[int] | None  # the best order strictly below the bound, if one was found
    exact: bool  # the search finished without a width limit: `order` (or the bound) is minimal
    explored: int  # states tried
    timed_out: bool  # the clock stopped it (the only way the outcome can depend on the machine)


def _search(model: _Model, bound: int, width: int | None, budget: int, deadline: float,
            clock: Callable[[], float]) -> _Outcome:
    """Level-by-level DP over executed-op sets; only peaks strictly below `bound` survive.

    width None: exact, unless more than `budget` states are tried (then order None, not
    exact). width w: keep the w best sets per level, within the same kind of budget.
    The clock is read once per expanded set, against `deadline` (the safety net).
    """
    # set -> (peak, live bytes, ready ops); the last two depend on the set only
    frontier: dict[int, tuple[int, int, int]] = {0: (0, model.start_live(), model.ready_mask(0))}
    parents: list[dict[int, tuple[int, int]]] = []
    explored = 0
    step_extra = [b + s for b, s in zip(model.out_bytes, model.scratch)]
    for _level in range(len(model.ops)):
        nxt: dict[int, tuple[int, int, int]] = {}
        back: dict[int, tuple[int, int]] = {}
        for done, (peak, live, ready) in frontier.items():
            for k in _bits(ready):
                explored += 1
                p = max(peak, live + step_extra[k])
                if p >= bound:
                    continue
                key = done | 1 << k
                seen = nxt.get(key)
                if seen is None:
                    nxt[key] = (p, model.after(key, live, k), model.ready_after(ready, key, k))
                    back[key] = (done, k)
                elif p < seen[0]:
                    nxt[key] = (p, seen[1], seen[2])
                    back[key] = (done, k)
            if explored > budget:
                return _Outcome(None, False, explored, False)
            if clock() >= deadline:
                return _Outcome(None, False, explored, True)
        if not nxt:
            return _Outcome(None, width is None, explored, False)
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
    return _Outcome(order[::-1], width is None, explored, False)


def schedule(graph: Graph, scratch: Mapping[str, int] | None = None,
             time_limit: float = DEFAULT_TIME_LIMIT, clock: Callable[[], float] = time.monotonic) -> Schedule:
    """The op order with the smallest layer-wise peak (exact when the search finishes).

    The result depends only on the graph and the state budgets, unless the safety-net
    `time_limit` (seconds by `clock`) is reached, which the Schedule then reports.
    """
    deadline = clock() + max(0.0, time_limit)
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
    found = _search(model, best_bytes, None, EXACT_STATE_BUDGET, deadline, clock)
    explored, timed_out, exact = found.explored, found.timed_out, found.exact
    if found.order is not None and model.peak(found.order) < best_bytes:
        best_order, best_bytes, method = found.order, model.peak(found.order), "dynamic programming"
    elif not exact and not timed_out:
        beam = _search(model, best_bytes, BEAM_WIDTH, BEAM_STATE_BUDGET, deadline, clock)
        explored, timed_out = explored + beam.explored, beam.timed_out
        if beam.order is not None and model.peak(beam.order) < best_bytes:
            best_order, best_bytes, method = beam.order, model.peak(beam.order), "beam search"
    return Schedule(model.nodes(best_order), best_bytes, file_bytes, exact, method, explored, timed_out)


def scratch_bytes(calls: Mapping[str, Sequence[object]]) -> dict[str, int]:
    """node -> bytes of kernel scratch its calls need (KernelCall.scratch_bytes)."""
    return {name: sum(getattr(c, "scratch_bytes", 0) for c in node_calls) for name, node_calls in calls.items()}
