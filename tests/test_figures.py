"""Numbers that agree: every size figure says what it includes, the layer-wise peak is
labelled as the bound without overlap credit, a board's SRAM and arena limit never clash,
and slow compile steps announce themselves (quick ones stay silent)."""

from __future__ import annotations

import json
import re
import time

from click.testing import CliRunner

from test_cli import reshape_model
from tinycc_ml.boards import load_board
from tinycc_ml.cli import main
from tinycc_ml.compiler import Fit
from tinycc_ml.progress import slow_step
from tinycc_ml.report import FIGURE_LABELS


def test_report_labels_every_figure(tmp_path):
    reshape_model(tmp_path / "r.onnx", 300)
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "r.onnx"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["figures"] == FIGURE_LABELS
    assert all(key in report for key in FIGURE_LABELS if key != "firmware")  # "firmware" comes with a QEMU run
    assert FIGURE_LABELS["weights_bytes"].startswith("flash, model only")
    assert FIGURE_LABELS["firmware_footprint"].startswith("flash and RAM, model + runtime")
    assert FIGURE_LABELS["firmware"].startswith("flash and RAM, whole firmware")
    assert FIGURE_LABELS["layerwise_peak_bytes"].startswith("the bound without overlap credit")
    lines = result.stdout.splitlines()
    assert "layer-wise peak without overlap credit 300 B" in lines[2] and "weights (model constants only)" in lines[2]
    assert any(line.startswith("  on cortex-m7 (model + runtime, -O2): flash ") for line in lines)
    # stderr holds at most progress lines of slow steps (the firmware build may take a second)
    assert all(line.endswith(" ...") for line in result.stderr.splitlines())


def test_h743_sram_and_arena_limit_are_both_named():
    h743 = load_board("nucleo_h743zi")
    assert Fit(h743, 1000, 0).summary() == ("fits: arena 1,000 B of 512 KB SRAM region (the largest; 1 MB RAM in all) "
                                            "(0.2 %), weights 0 B of 2 MB flash")
    row = next(line for line in CliRunner().invoke(main, ["boards"]).stdout.splitlines() if line.startswith("nucleo_h743zi"))
    assert re.search(r"  1 MB \(arena <= 512 KB\) +2 MB  ", row), row
    assert Fit(load_board("stm32f746"), 1000, 0).summary().startswith("fits: arena 1,000 B of 320 KB SRAM (")


def test_slow_step_speaks_only_when_slow():
    said: list[str] = []
    with slow_step(said.append, "quick", after=0.5):
        pass
    with slow_step(said.append, "slow step ...", after=0.05):
        time.sleep(0.3)
    time.sleep(0.1)  # a cancelled timer must not fire late
    assert said == ["slow step ..."]
