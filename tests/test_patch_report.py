"""A patch stage in what tinyc shows: the compile summary (the choice, peak with and
without, MAC overhead, K, grid, halo per op), `tinyc report` (its text and picture mark
the stage's steps) and report.json's `patch` object."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

import frontend_support as fs
from patch_models import small_mobilenet
from tinycc_ml.cli import main as cli


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("patch_report") / "small_mobilenet.onnx"
    onnx.save(fs.quantize(small_mobilenet()), path)
    return path


@pytest.mark.slow
def test_summary_report_json_and_picture_show_the_patch_stage(mobilenet, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compile", str(mobilenet), "-o", str(out), "--no-firmware-size",
                                      "--patch", "auto"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    patch = report["patch"]
    assert patch["applied"] and patch["arena_with_bytes"] == report["arena_bytes"] < patch["arena_without_bytes"]
    first, last = patch["stage_steps"]
    assert report["schedule"][first:last + 1] == patch["stage_ops"] == list(patch["halo_rows"])
    assert patch["grid"][1] == 1 and patch["planned"] <= patch["candidates"]
    # report["macs"] counts what runs: the model's MACs plus what the halos recompute, op by op.
    assert report["macs"] == patch["macs_with"] == sum(op["macs"] for op in report["ops"]) > patch["macs_without"]

    n_h = patch["grid"][0]
    summary = result.output
    assert (f"in {n_h}x1 bands: arena {patch['arena_with_bytes']:,} B (layer by layer "
            f"{patch['arena_without_bytes']:,} B, ") in summary
    assert f"+{patch['mac_overhead_pct']:.1f} % MACs" in summary
    halo_line = next(line for line in summary.splitlines() if "patch halo" in line)
    assert len(re.findall(r" \+\d+", halo_line)) == len(patch["halo_rows"])

    svg_path = tmp_path / "plan.svg"
    shown = CliRunner().invoke(cli, ["report", str(mobilenet), "--patch", "auto", "--svg", str(svg_path)])
    assert shown.exit_code == 0, shown.output
    assert "patch: stage ending at" in shown.output and "patch halo" in shown.output
    assert f"arena {patch['arena_with_bytes']:,} B" in shown.output
    marked = [int(line.split()[0]) for line in shown.output.splitlines() if f"[patch, {n_h} bands]" in line]
    assert marked == list(range(first, last + 1))
    (stage,) = re.findall(r'<rect class="patch-stage"[^>]*data-first="(\d+)" data-last="(\d+)" '
                          r'data-regions="(\d+)"', svg_path.read_text())
    assert tuple(map(int, stage)) == (first, last, n_h)


def test_report_without_a_gain_says_so(mobilenet):
    shown = CliRunner().invoke(cli, ["report", str(mobilenet), "--patch", "auto", "--patch-overhead", "0"])
    assert shown.exit_code == 0, shown.output
    assert "patch: auto found no stage that lowers the arena within +0 % MACs" in shown.output
    assert "[patch," not in shown.output and "patch-stage" not in shown.output
