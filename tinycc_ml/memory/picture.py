"""A memory plan as text (terminal) and as a picture (SVG, inline in an HTML page).

Both show the same thing: time (steps of the schedule) against address (bytes of the
arena). Each buffer is a rectangle from its first to its last step and from its
offset to offset + size; the arena, the lower bound and the board's SRAM are lines;
the live bytes per step (no overlap credit, memory/bounds.py) are a curve; the step
where they peak is marked, and the buffers that reach the top of the arena (and so
decide its size) are outlined. The SVG rectangles carry the planned figures as data
attributes (data-offset, data-size, data-first, data-last), so a test can read the
picture back without looking at pixels.
"""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from typing import Sequence

from .bounds import live_bytes_per_step
from .plan import MemoryPlan

LETTERS = string.ascii_uppercase + string.ascii_lowercase + string.digits
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#8cd17d", "#86bcb6", "#d4a6c8")
SCRATCH_FILL = "#bab0ac"


@dataclass(frozen=True)
class Step:
    node: str
    kind: str
    output: str = ""  # e.g. "[1, 16, 48, 48]": what the step writes


@dataclass(frozen=True)
class LoopSpan:
    """Steps a loop runs (a patch stage, band by band), for the picture to mark."""

    first: int
    last: int
    regions: int  # iterations: the bands
    label: str  # e.g. "patch stage -> conv3_out, 4x1 bands"


@dataclass(frozen=True)
class PlanView:
    """What a picture of a plan needs besides the plan itself."""

    plan: MemoryPlan
    steps: tuple[Step, ...]  # the schedule, one entry per step
    title: str
    sram_bytes: int  # the board's SRAM available to the arena
    lower_bound_bytes: int
    best_layerwise_bytes: int
    loops: tuple[LoopSpan, ...] = ()  # the patch stages among the steps

    @property
    def live(self) -> tuple[int, ...]:
        return live_bytes_per_step(self.plan.requests)


def short(name: str, width: int = 28) -> str:
    """Long ONNX names (tf2onnx joins a dozen) keep their head and tail."""
    if len(name) <= width:
        return name
    half = (width - 1) // 2
    return name[:half] + "…" + name[-(width - 1 - half):]


def letters(plan: MemoryPlan) -> list[str]:
    """One character per buffer, in request order (cycling past 62 buffers)."""
    return [LETTERS[i % len(LETTERS)] for i in range(len(plan.requests))]


# -- text ---------------------------------------------------------------------------------------


def text_timeline(view: PlanView, width: int = 48) -> str:
    """Per step: live bytes and a map of the arena (which buffer holds which bytes)."""
    plan, marks = view.plan, letters(view.plan)
    arena = max(plan.arena_bytes, 1)
    live = view.live
    peak = max(live, default=0)
    left, right = "0", f"{plan.arena_bytes:,} B"
    scale = left + " " * max(1, width - len(left) - len(right)) + right  # the addresses the map spans
    rows = [f"{'step':>4}  {'live B':>9}   {scale}   op"]
    for t, step in enumerate(view.steps):
        cells = []
        for c in range(width):
            mid = (c + 0.5) * arena / width
            here = [marks[i] for i, (r, off) in enumerate(zip(plan.requests, plan.offsets))
                    if r.first <= t <= r.last and off <= mid < off + r.size]
            cells.append("." if not here else here[0] if len(here) == 1 else "#")
        flag = "".join(f" [patch, {loop.regions} bands]" for loop in view.loops if loop.first <= t <= loop.last)
        flag += " <- peak" if live and live[t] == peak else ""
        rows.append(f"{t:>4}  {live[t] if t < len(live) else 0:>9,}  |{''.join(cells)}|  "
                    f"{step.kind} {step.output} {short(step.node, 24)}{flag}")
    rows.append(f"{'':>17}'#': two buffers share bytes under an overlap fact; '.': free")
    return "\n".join(rows) + "\n"


def buffer_table(view: PlanView) -> str:
    plan, marks = view.plan, letters(view.plan)
    rows = [f"{'':>2} {'offset':>8} {'size':>8} {'end':>8} {'steps':>9}  buffer"]
    for i in sorted(range(len(plan.requests)), key=lambda k: (plan.offsets[k], plan.requests[k].first)):
        r, off = plan.requests[i], plan.offsets[i]
        rows.append(f"{marks[i]:>2} {off:>8,} {r.size:>8,} {off + r.size:>8,} {f'{r.first}-{r.last}':>9}  {short(r.name, 60)}")
    return "\n".join(rows) + "\n"


def figures_lines(view: PlanView) -> list[str]:
    plan = view.plan
    gap = plan.arena_bytes - view.lower_bound_bytes
    overlaps = len(plan.overlapping())
    return [
        f"arena {plan.arena_bytes:,} B = lower bound {view.lower_bound_bytes:,} B + {gap:,} B "
        f"(planner {plan.planner}, {overlaps} overlap{'s' if overlaps != 1 else ''} used)",
        f"layer-wise peak {plan.layerwise_peak_bytes():,} B for this order, best over orders "
        f"{view.best_layerwise_bytes:,} B; SRAM for the arena {view.sram_bytes:,} B",
    ]


def sparkline(values: Sequence[int]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    top = max(values, default=0) or 1
    return "".join(bars[min(len(bars) - 1, v * len(bars) // (top + 1))] for v in values)


# -- SVG ----------------------------------------------------------------------------------------

W, H = 960, 560
LEFT, RIGHT, TOP, BOTTOM = 84, 190, 76, 56


def _nice_step(span: int, ticks: int = 6) -> int:
    """A round tick spacing: 1/2/5 x 10^k."""
    raw = max(span / ticks, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)


def _address_ticks(top: int) -> tuple[int, bool]:
    """(spacing, in KiB?): power-of-two KiB steps from 16 KiB up, round byte counts below."""
    if top < 16384:
        return _nice_step(top), False
    step = 1024
    while step * 6 < top:
        step *= 2
    return step, True


def _kb(value: int) -> str:
    if value < 8192:
        return f"{value:,} B"
    kib = value / 1024
    return f"{kib:,.0f} KiB" if kib == int(kib) else f"{kib:,.1f} KiB"


def svg(view: PlanView) -> str:
    plan = view.plan
    n = max(len(view.steps), 1)
    live = view.live
    peak_live = max(live, default=0)
    sram_in_scale = view.sram_bytes <= 1.6 * max(plan.arena_bytes, peak_live, 1)
    top_value = max(plan.arena_bytes, peak_live, view.lower_bound_bytes, 1)
    if sram_in_scale:
        top_value = max(top_value, view.sram_bytes)
    top_value = int(top_value * 1.06) + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(step: float) -> float:
        return LEFT + pw * step / n

    def y(address: float) -> float:
        return TOP + ph * (1 - address / top_value)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="12" class="tinyc-memory-plan" '
           f'data-arena-bytes="{plan.arena_bytes}" data-steps="{n}">',
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{html.escape(view.title)}</text>',
           f'<text x="{LEFT}" y="40" fill="#444">{html.escape(figures_lines(view)[0])}</text>']
    # axes and grid
    tick, in_kib = _address_ticks(top_value)
    for value in range(0, top_value + 1, tick):
        label = f"{value // 1024:,} KiB" if in_kib else f"{value:,} B"
        out.append(f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{LEFT + pw}" y2="{y(value):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#555">{label}</text>')
    every = max(1, _nice_step(n, 16)) if n > 16 else 1
    for step in range(0, n, every):
        out.append(f'<text x="{x(step + 0.5):.1f}" y="{TOP + ph + 16}" text-anchor="middle" fill="#555">{step}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 14}" text-anchor="middle">step (op of the schedule)</text>')
    out.append(f'<text x="18" y="{TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {TOP + ph / 2})">'
               f'arena address</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    # the patch stages: the steps their loop runs band by band, behind the buffers
    for loop in view.loops:
        x0, x1 = x(loop.first), x(loop.last + 1)
        out.append(f'<rect class="patch-stage" x="{x0:.2f}" y="{TOP}" width="{x1 - x0:.2f}" height="{ph}" '
                   f'fill="#f6e7b4" fill-opacity="0.55" stroke="#c9a227" stroke-dasharray="5 3" '
                   f'data-first="{loop.first}" data-last="{loop.last}" data-regions="{loop.regions}">'
                   f'<title>{html.escape(loop.label)}</title></rect>')
        out.append(f'<text class="patch-stage-label" x="{x0 + 4:.1f}" y="{TOP + 14}" fill="#8a6d00">'
                   f'{html.escape(loop.label)}</text>')
    # the buffers
    marks = letters(plan)
    for i, (r, off) in enumerate(zip(plan.requests, plan.offsets)):
        if r.size == 0:
            continue
        fill = SCRATCH_FILL if not r.tensors else PALETTE[i % len(PALETTE)]
        x0, x1, y0, y1 = x(r.first), x(r.last + 1), y(off + r.size), y(off)
        tip = f"{marks[i]} {r.name}: offset {off:,}, {r.size:,} B, steps {r.first}-{r.last}"
        # The buffers that reach the top of the arena decide its size: outlined in the arena's red.
        stroke = 'stroke="#d62728" stroke-width="1.6"' if off + r.size == plan.arena_bytes else \
            'stroke="white" stroke-width="0.8"'
        out.append(
            f'<rect class="buffer" x="{x0:.2f}" y="{y0:.2f}" width="{x1 - x0:.2f}" height="{max(y1 - y0, 0.5):.2f}" '
            f'fill="{fill}" fill-opacity="0.72" {stroke} '
            f'data-name="{html.escape(r.name)}" data-offset="{off}" data-size="{r.size}" '
            f'data-first="{r.first}" data-last="{r.last}"><title>{html.escape(tip)}</title></rect>')
        if y1 - y0 >= 13 and x1 - x0 >= 12:
            out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{(y0 + y1) / 2 + 4:.1f}" text-anchor="middle" '
                       f'fill="white" font-weight="bold">{marks[i]}</text>')
    # live bytes per step (no overlap credit), the peak step marked
    points = []
    for t, value in enumerate(live):
        points += [f"{x(t):.1f},{y(value):.1f}", f"{x(t + 1):.1f},{y(value):.1f}"]
    if points:
        out.append(f'<polyline class="live" points="{" ".join(points)}" fill="none" stroke="#222" '
                   f'stroke-width="1.5" stroke-dasharray="4 2"/>')
        t = live.index(peak_live)
        out.append(f'<path class="peak" d="M {x(t + 0.5):.1f} {y(peak_live) - 16:.1f} l 0 12 l -5 -6 m 5 6 l 5 -6" '
                   f'stroke="#222" fill="none" stroke-width="1.5" data-step="{t}" data-bytes="{peak_live}"/>')
        out.append(f'<text x="{x(t + 0.5):.1f}" y="{y(peak_live) - 20:.1f}" text-anchor="middle">'
                   f'peak live {_kb(peak_live)} (step {t})</text>')
    lines = [("arena", plan.arena_bytes, "#d62728", ""), ("lower bound", view.lower_bound_bytes, "#2ca02c", "6 3")]
    if sram_in_scale:
        lines.append(("SRAM", view.sram_bytes, "#ff7f0e", ""))
    for label, value, color, dash in lines:
        out.append(f'<line class="level" data-label="{label}" data-bytes="{value}" x1="{LEFT}" y1="{y(value):.1f}" '
                   f'x2="{LEFT + pw}" y2="{y(value):.1f}" stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}"/>')
    # labels right of the plot, spread so they never overprint
    label_y, last = [], None
    for label, value, color, _ in sorted(lines, key=lambda item: -item[1]):
        yy = y(value) + 4 if last is None else max(y(value) + 4, last + 14)
        label_y.append((label, value, color, yy))
        last = yy
    for label, value, color, yy in label_y:
        out.append(f'<text x="{LEFT + pw + 8}" y="{yy:.1f}" fill="{color}">{label} {value:,} B</text>')
    out.append(f'<text x="{LEFT + pw + 8}" y="{TOP + ph - 18}" fill="#222">- - live bytes per step</text>')
    out.append(f'<text x="{LEFT + pw + 8}" y="{TOP + ph - 4}" fill="#222">    (no overlap credit)</text>')
    if not sram_in_scale:
        ratio = view.sram_bytes / max(plan.arena_bytes, 1)
        # Far above the plot: an arrow at the top edge, labelled, instead of a line off the scale.
        ax = LEFT + pw - 8
        out.append(f'<path class="sram-arrow" d="M {ax} {TOP - 4} l 0 -22 l -6 8 m 6 -8 l 6 8" '
                   f'stroke="#ff7f0e" fill="none" stroke-width="2" data-bytes="{view.sram_bytes}"/>')
        out.append(f'<text x="{ax - 12}" y="{TOP - 10}" text-anchor="end" fill="#ff7f0e">'
                   f'SRAM for the arena {_kb(view.sram_bytes)} = {ratio:,.1f}x the arena, far above this scale</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def html_page(view: PlanView) -> str:
    plan, marks = view.plan, letters(view.plan)
    live = view.live
    steps = "\n".join(
        f"<tr><td>{t}</td><td>{html.escape(s.kind)}</td><td>{html.escape(s.output)}</td>"
        f"<td title=\"{html.escape(s.node)}\">{html.escape(short(s.node, 48))}</td>"
        f"<td class=n>{live[t] if t < len(live) else 0:,}</td></tr>" for t, s in enumerate(view.steps))
    buffers = "\n".join(
        f"<tr><td>{marks[i]}</td><td class=n>{off:,}</td><td class=n>{r.size:,}</td><td class=n>{off + r.size:,}</td>"
        f"<td>{r.first}-{r.last}</td><td title=\"{html.escape(r.name)}\">{html.escape(short(r.name, 60))}</td></tr>"
        for i, (r, off) in sorted(enumerate(zip(plan.requests, plan.offsets)), key=lambda item: (item[1][1], item[1][0].first)))
    facts = "\n".join(
        f"<li>{html.escape(f.node)}: {html.escape(short(f.output, 40))} over {html.escape(short(f.input, 40))}, "
        f"offset(input) - offset(output) &gt;= {f.min_distance} ({html.escape(f.reason)})</li>" for f in plan.used_facts())
    figures = "".join(f"<p>{html.escape(line)}</p>" for line in figures_lines(view))
    figures += "".join(f"<p>steps {loop.first}-{loop.last}: {html.escape(loop.label)}</p>" for loop in view.loops)
    return f"""<!DOCTYPE html>
<!-- generated by tinyc report, do not edit -->
<html><head><meta charset="utf-8"><title>{html.escape(view.title)}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:24px;}} table{{border-collapse:collapse;}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;}} td.n{{text-align:right;}}</style></head>
<body><h1>{html.escape(view.title)}</h1>
{figures}
{svg(view)}
<h2>Overlaps used</h2><ul>{facts or "<li>none</li>"}</ul>
<h2>Steps</h2><table><tr><th>step</th><th>kind</th><th>output</th><th>node</th><th>live bytes</th></tr>
{steps}
</table>
<h2>Buffers</h2><table><tr><th></th><th>offset</th><th>size</th><th>end</th><th>steps</th><th>buffer</th></tr>
{buffers}
</table></body></html>
"""
