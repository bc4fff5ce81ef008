"""tinycc_ml.compile: the Python API the CLI is a layer over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import frontend_support as fs
import tinycc_ml
from tinycc_ml.errors import TinycError
from tinycc_ml.interp import run_graph
from tinycc_ml.verification import random_input


@pytest.fixture(scope="module")
def conv_model() -> onnx.ModelProto:
    return fs.quantize(fs.conv_model(relu=True), "QDQ", seed=11)


def test_compile_run_and_write(conv_model, tmp_path):
    m = tinycc_ml.compile(conv_model, board="stm32f746", schedule_time_limit=0.5, measure_firmware=False)
    assert m.arena_bytes == m.report["arena_bytes"] > 0 and m.report["board"] == "stm32f746"
    graph = m.result.imported
    x = random_input(graph.inputs[0], np.random.default_rng(0))
    expected = run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name]
    assert m.run(x).tobytes() == expected.tobytes()
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        r = m.run_result(x, target="qemu-m7")
        assert r.output.tobytes() == expected.tobytes() and r.instructions > 0
    out = m.write(tmp_path / "copy")
    assert (out / "src/model.h").read_text() == (m.out_dir / "src/model.h").read_text()
    assert json.loads((out / "report.json").read_text())["arena_bytes"] == m.arena_bytes
    assert (out / "platformio.ini").is_file() and (out / ".tinyc_manifest.json").is_file()


def test_options_are_the_clis(conv_model, tmp_path):
    onnx.save(conv_model, tmp_path / "m.onnx")
    m = tinycc_ml.compile(tmp_path / "m.onnx", board="nucleo_f446re", out_dir=tmp_path / "out", name="net",
                          arena="extern", preserve_input=True, measure_firmware=False, schedule_time_limit=0.5)
    assert m.out_dir == tmp_path / "out" and (tmp_path / "out/src/net.h").is_file()
    assert m.report["arena"] == "extern" and m.report["preserve_input"] is True and m.report["board"] == "nucleo_f446re"
    assert "preserve_input_cost_bytes" in m.report


def test_unknown_option_and_target_are_named(conv_model):
    with pytest.raises(TinycError) as err:
        tinycc_ml.compile(conv_model, preserve_inputs=True)
    assert str(err.value).startswith("unknown compile option preserve_inputs; the options are name, planner, ")
    m = tinycc_ml.compile(conv_model, measure_firmware=False, schedule_time_limit=0.5)
    with pytest.raises(TinycError) as err:
        m.run(np.zeros(1), target="qemu-m9")
    assert str(err.value) == "target 'qemu-m9' is not one of host, qemu-m3, qemu-m33, qemu-m4, qemu-m7"
    with pytest.raises(TinycError) as err:
        tinycc_ml.compile(42)
    assert str(err.value) == "model must be a path to an .onnx file or an onnx.ModelProto, not int"


def test_readme_example_runs(conv_model, tmp_path):
    """The README's example, as written there (model path and input swapped for the test's)."""
    onnx.save(conv_model, tmp_path / "kws.onnx")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    graph = tinycc_ml.compile(conv_model, measure_firmware=False, schedule_time_limit=0.5).result.imported
    x = random_input(graph.inputs[0], np.random.default_rng(0))
    namespace = {"x": x}
    code = block.replace('"kws.onnx"', repr(str(tmp_path / "kws.onnx"))).replace('"build/kws"', repr(str(tmp_path / "w")))
    code = code.replace('target="qemu-m7"', 'target="host"')
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert (tmp_path / "w/src/model.h").is_file()
    assert namespace["y"].tobytes() == run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name].tobytes()
