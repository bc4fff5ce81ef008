"""The memory report: report.json's memory figures, `tinyc report` (terminal text, SVG,
HTML) and the compile summary, on the Inception-style DAG whose figures are derived by
hand in test_schedule.py, and the text/SVG renderers on a hand-made plan."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from memory_support import inception_model, quantized_file
from tinycc_ml.boards import load_board
from tinycc_ml.cli import main
from tinycc_ml.compiler import CompileOptions, compile_model, import_model, lower
from tinycc_ml.kernels.target import KernelTarget
from tinycc_ml.memory import BufferRequest, OverlapFact, plan
from tinycc_ml.memory.picture import PlanView, Step, buffer_table, svg, text_timeline

SVG_NS = "{http://www.w3.org/2000/svg}"
SRAM = 327_680  # stm32f746: 320 KiB, all of it one region for the arena

# Inception: live bytes per step, by hand: x + x' (NHWC copy) | x' + a0 | + b0 | x' + b0 + a1 |
# + b1 | x' + b0 + b1 + a2 | b0 + b1 + a2 + b2 | b0 + b1 + b2 + b1' | b0 + b1' + b2 + b2' |
# b0 + b1' + b2' + y' | y' + y (the NCHW copy of the output).
INCEPTION_LIVE = [4096, 10240, 11264, 9216, 10240, 8192, 7168, 4096, 4096, 6144, 6144]
INCEPTION_ORDER = ["layout:x_QuantizeLinear_Output__nhwc", "conv_a0", "conv_b0", "conv_a1", "conv_b1", "conv_a2",
                   "conv_b2", "concat/requantize", "concat/requantize_1", "concat", "layout:y_QuantizeLinear_Output"]


def tinyc(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    return quantized_file(inception_model(), tmp_path_factory.mktemp("report") / "inception.onnx")


@pytest.fixture(scope="module")
def compiled(inception_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_out")
    return compile_model(inception_file, "stm32f746", out, CompileOptions(measure_firmware=False)), out


def test_report_json_memory_fields(compiled):
    result, out = compiled
    r = json.loads((out / "report.json").read_text())
    p = result.program.plan
    assert r["schedule"] == INCEPTION_ORDER
    assert r["live_bytes"] == INCEPTION_LIVE
    assert (r["layerwise_peak_bytes"], r["best_layerwise_bytes"], r["best_layerwise_exact"]) == (11264, 11264, True)
    assert (r["file_order_layerwise_bytes"], r["schedule_method"]) == (20480, "dynamic programming")
    assert r["arena_bytes"] == p.arena_bytes == max(b["offset"] + b["size"] for b in r["buffers"])
    assert r["lower_bound_bytes"] == p.lower_bound_bytes()
    assert r["lower_bound_gap_bytes"] == r["arena_bytes"] - r["lower_bound_bytes"] >= 0
    assert r["planner"] == p.planner
    assert [(b["name"], b["offset"], b["size"], b["first"], b["last"], b["tensors"]) for b in r["buffers"]] == [
        (q.name, off, q.size, q.first, q.last, list(q.tensors)) for q, off in zip(p.requests, p.offsets)]
    assert r["overlaps"] == [{"node": f.node, "input": f.input, "output": f.output, "min_distance": f.min_distance,
                              "reason": f.reason} for f in p.used_facts()]
    # every overlap listed is one the plan really uses: the two buffers share bytes
    offsets = p.tensor_offsets()
    sizes = {t: q.size for q in p.requests for t in q.tensors}
    for o in r["overlaps"]:
        a, b = offsets[o["input"]], offsets[o["output"]]
        assert a < b + sizes[o["output"]] and b < a + sizes[o["input"]]
        assert a - b >= o["min_distance"]


def test_compile_summary_tells_the_memory_story(compiled):
    result, _ = compiled
    r = result.report
    lines = result.summary_lines()
    n = len(r["overlaps"])
    assert lines[3] == (f"  memory: lower bound {r['lower_bound_bytes']:,} B (arena +{r['lower_bound_gap_bytes']:,} B), "
                        f"best layer-wise 11,264 B (dynamic programming, proven), {n} overlap{'' if n == 1 else 's'}")
    assert lines[4] == "  live bytes per step: ▃██▇█▆▆▃▃▅▅ peak 11,264 B at step 2"


def test_tinyc_report_text_svg_and_html(inception_file, tmp_path):
    result = tinyc("report", inception_file, "--board", "stm32f746", "--svg", tmp_path / "p.svg",
                   "--html", tmp_path / "p.html")
    assert result.exit_code == 0, result.stderr
    # The plan the report shows: the board's kernels (a DSP core's variants may have other
    # access models, so other overlap distances and lower bounds than the host's).
    program, _ = lower(import_model(inception_file), target=KernelTarget.of_board(load_board("stm32f746")))
    p = program.plan
    lines = result.stdout.splitlines()
    assert lines[0] == "inception.onnx on stm32f746: memory plan"
    assert lines[1].startswith(f"arena {p.arena_bytes:,} B = lower bound {p.lower_bound_bytes():,} B + ")
    assert lines[2] == ("layer-wise peak 11,264 B for this order, best over orders 11,264 B; "
                        "SRAM for the arena 327,680 B")
    assert lines[3] == ("schedule: dynamic programming (proven minimal layer-wise peak), "
                        "graph order's layer-wise peak 20,480 B")
    rows = [line for line in lines if line[:4].strip().isdigit() and "|" in line]
    assert [int(row.split()[1].replace(",", "")) for row in rows] == INCEPTION_LIVE
    assert "<- peak" in rows[2] and sum("<- peak" in row for row in rows) == 1
    assert lines[-2:] == [f"wrote {tmp_path / 'p.html'}", f"wrote {tmp_path / 'p.svg'}"]

    root = ET.parse(tmp_path / "p.svg").getroot()
    rects = [e for e in root.iter(f"{SVG_NS}rect") if e.get("class") == "buffer"]
    planned = [(q.name, off, q.size, q.first, q.last) for q, off in zip(p.requests, p.offsets) if q.size]
    assert [(e.get("data-name"), int(e.get("data-offset")), int(e.get("data-size")), int(e.get("data-first")),
             int(e.get("data-last"))) for e in rects] == planned
    levels = {e.get("data-label"): int(e.get("data-bytes")) for e in root.iter(f"{SVG_NS}line") if e.get("class") == "level"}
    assert levels == {"arena": p.arena_bytes, "lower bound": p.lower_bound_bytes()}  # SRAM is far above: an arrow
    arrow = [e for e in root.iter(f"{SVG_NS}path") if e.get("class") == "sram-arrow"]
    assert [int(e.get("data-bytes")) for e in arrow] == [SRAM]
    peak = [e for e in root.iter(f"{SVG_NS}path") if e.get("class") == "peak"]
    assert [(int(e.get("data-step")), int(e.get("data-bytes"))) for e in peak] == [(2, 11264)]

    page = (tmp_path / "p.html").read_text()
    assert page.startswith("<!DOCTYPE html>\n<!-- generated by tinyc report, do not edit -->")
    assert page.count('<rect class="buffer"') == len(planned)
    assert page.count("<tr><td>") == len(INCEPTION_ORDER) + len(p.requests)


def test_report_of_a_missing_model(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "none.onnx")])
    assert result.exit_code == 2
    assert result.stderr == f"error: model file {tmp_path / 'none.onnx'} does not exist\n"


# -- the renderers on a hand-made plan ---------------------------------------------------------------


def _chain_view(sram: int) -> PlanView:
    """x (100 B, step 0) -> a (200 B, 0-1) -> b (50 B, 1-2, in place over a) -> y (30 B, step 2)."""
    reqs = tuple(BufferRequest(n, s, f, last, 16, (n,)) for n, s, f, last in
                 (("x", 100, 0, 0), ("a", 200, 0, 1), ("b", 50, 1, 2), ("y", 30, 2, 2)))
    p = plan(reqs, "greedy_by_size", (OverlapFact("op1", "a", "b", 0, "elementwise"),))
    steps = (Step("op0", "Lut", "[1, 200]"), Step("op1", "Lut", "[1, 50]"), Step("op2", "Lut", "[1, 30]"))
    return PlanView(p, steps, "chain", sram, p.lower_bound_bytes(), 300)


def test_text_timeline_and_table_by_hand():
    # a (largest) at 0; x beside it at 208; b over a (the fact, d = 0) at 0; y next to b at 64.
    view = _chain_view(1000)
    assert text_timeline(view, 10).splitlines() == [
        "step     live B   0    308 B   op",
        "   0        300  |BBBBBB.AAA|  Lut [1, 200] op0 <- peak",
        "   1        250  |##BBBB....|  Lut [1, 50] op1",
        "   2         80  |CCD.......|  Lut [1, 30] op2",
        "                 '#': two buffers share bytes under an overlap fact; '.': free",
    ]
    assert buffer_table(view).splitlines()[1:] == [
        " B        0      200      200       0-1  a",
        " C        0       50       50       1-2  b",
        " D       64       30       94       2-2  y",
        " A      208      100      308       0-0  x",
    ]


def test_svg_draws_the_sram_line_when_it_is_in_scale():
    root = ET.fromstring(svg(_chain_view(400)))
    assert root.get("data-arena-bytes") == "308"
    levels = {e.get("data-label"): int(e.get("data-bytes")) for e in root.iter(f"{SVG_NS}line") if e.get("class") == "level"}
    assert levels == {"arena": 308, "lower bound": 300, "SRAM": 400}
    assert not [e for e in root.iter(f"{SVG_NS}path") if e.get("class") == "sram-arrow"]
    rects = {e.get("data-name"): (e.get("data-offset"), e.get("data-size")) for e in root.iter(f"{SVG_NS}rect")
             if e.get("class") == "buffer"}
    assert rects == {"x": ("208", "100"), "a": ("0", "200"), "b": ("0", "50"), "y": ("64", "30")}
