"""End to end on the repository's own example: the digits CNN of examples/digits/.

The model is trained with NumPy and quantized by onnxruntime (QDQ and QOperator), once
per test session. Then, on all 450 images of the test split:

* onnxruntime's int8 accuracy is at least 90 %;
* tinyc's interpreter picks the same class as onnxruntime on every image, and each of
  its ops, fed onnxruntime's int8 inputs, is within 1 LSB of onnxruntime's int8 output
  (onnxruntime computes in float; tinyc in TFLite's integer arithmetic);
* the compiled host C (tinyc compile + the generated sources built with a batch harness,
  also under AddressSanitizer/UBSan) equals the interpreter byte for byte, and so has
  onnxruntime's accuracy exactly;
* `tinyc run --target host` (the generated single-input harness) agrees on one image.

The checked-in examples/digits/digits_int8.onnx must be exactly what make_model.py
builds (it is deterministic), so the quick start may skip training.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits"
FORMATS = ("qdq", "qoperator")
BOARD = "stm32f746"
MIN_ACCURACY = 0.90


def _load(name: str):
    """Import a module of examples/digits/ (its scripts import their siblings by plain name)."""
    if str(DIGITS) not in sys.path:
        sys.path.insert(0, str(DIGITS))
    spec = importlib.util.spec_from_file_location(f"digits_example_{name}", DIGITS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


make_model = _load("make_model")
digits_data = _load("digits_data")
digits_batch = _load("digits_batch")
evaluate = _load("evaluate")


# -- fixtures -------------------------------------------------------------------------------


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every pytest-xdist worker of this session sees, so the model is trained once."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / "digits_example"
    path.mkdir(exist_ok=True)
    return path


@dataclass(frozen=True)
class Built:
    models: dict[str, Path]
    accuracy: dict[str, float]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Both int8 variants, built by make_model.build_models (one training run)."""
    shared = _shared_dir(tmp_path_factory)
    paths = {fmt: shared / f"digits_{fmt}.onnx" for fmt in FORMATS}
    acc_path = shared / "accuracy.json"
    with open(shared / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds, the others wait and reuse
        if not acc_path.exists():
            models, accuracy = make_model.build_models(FORMATS)
            for fmt, data in models.items():
                paths[fmt].write_bytes(data)
            acc_path.write_text(json.dumps(accuracy))
    return Built(paths, json.loads(acc_path.read_text()))


@pytest.fixture(scope="session")
def split():
    return digits_data.load_split()


@dataclass(frozen=True)
class Variant:
    fmt: str
    model: Path
    ort: "evaluate.Outputs"  # onnxruntime on the test split


@pytest.fixture(scope="session", params=FORMATS)
def variant(request, built: Built, split) -> Variant:
    model = built.models[request.param]
    return Variant(request.param, model, evaluate.run_onnxruntime(model, split.x_test))


@pytest.fixture(scope="session")
def graph(variant: Variant):
    """The model as tinyc's frontend imports it."""
    from tinycc_ml.frontend.onnx_import import load_model

    return load_model(variant.model)


@pytest.fixture(scope="session")
def interp_outputs(variant: Variant, graph, split) -> "evaluate.Outputs":
    return evaluate.run_interpreter(graph, split.x_test)


@pytest.fixture(scope="session")
def compiled(variant: Variant, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tinycc_ml.compiler import compile_model

    out_dir = tmp_path_factory.mktemp(f"digits_{variant.fmt}_build")
    compile_model(variant.model, BOARD, out_dir)
    return out_dir


# -- the model itself ------------------------------------------------------------------------


def _run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, f"$ {' '.join(command)}\n{result.stdout}{result.stderr}"
    return result


def test_checked_in_model_is_what_make_model_builds(built: Built) -> None:
    recorded = dict(line.split()[::-1] for line in (DIGITS / "digits_int8.onnx.sha256").read_text().splitlines())
    assert sorted(recorded) == sorted(FORMATS)
    for fmt in FORMATS:
        digest = hashlib.sha256(built.models[fmt].read_bytes()).hexdigest()
        assert digest == recorded[fmt], (
            f"make_model.py --format {fmt} no longer builds the recorded model; if the change is intended, "
            f"rebuild with --force and update examples/digits/digits_int8.onnx.sha256")
    assert (DIGITS / "digits_int8.onnx").read_bytes() == built.models["qdq"].read_bytes()


def test_float_and_int8_accuracy(built: Built) -> None:
    acc = built.accuracy
    assert acc["float_numpy"] >= MIN_ACCURACY
    # The exported ONNX float model computes what the NumPy training code computes.
    assert acc["float_onnxruntime"] == acc["float_numpy"]
    for fmt in FORMATS:
        assert acc[f"int8_onnxruntime_{fmt}"] >= MIN_ACCURACY


def test_make_model_skips_training_when_the_recorded_model_exists(tmp_path: Path) -> None:
    out = tmp_path / "digits_int8.onnx"
    shutil.copy(DIGITS / "digits_int8.onnx", out)
    result = _run([sys.executable, str(DIGITS / "make_model.py"), "--out", str(out)])
    assert "not retraining" in result.stdout
    assert out.read_bytes() == (DIGITS / "digits_int8.onnx").read_bytes()


def test_make_input_writes_one_test_image(tmp_path: Path, split) -> None:
    out = tmp_path / "x.npy"
    result = _run([sys.executable, str(DIGITS / "make_input.py"), "--out", str(out), "--index", "7"])
    x = np.load(out)
    assert x.dtype == np.float32 and x.shape == (1, 1, 8, 8)
    assert np.array_equal(x[0], split.x_test[7])
    assert result.stdout.splitlines()[-1] == f"wrote {out}: test image 7, label {int(split.y_test[7])}"


# -- onnxruntime, interpreter, host C on the whole test split --------------------------------


def test_onnxruntime_accuracy(variant: Variant, split) -> None:
    accuracy = np.mean(variant.ort.probabilities.argmax(1) == split.y_test)
    assert accuracy >= MIN_ACCURACY, f"{variant.fmt}: onnxruntime accuracy {accuracy:.4f}"


def test_interpreter_picks_onnxruntimes_class(variant: Variant, interp_outputs) -> None:
    """Same class on every test image. The output bytes are not compared end to end: each op
    is within 1 LSB of onnxruntime (next test), but a 1-LSB difference in a logit (scale
    ~0.22) moves the softmax output by several LSB; measured, 3 of the 450 images differ by
    6 to 12 LSB in some class's probability, without changing the predicted class."""
    ort, mine = variant.ort, interp_outputs
    assert mine.probabilities.dtype == ort.probabilities.dtype == np.float32
    differ = np.flatnonzero(mine.probabilities.argmax(1) != ort.probabilities.argmax(1))
    assert differ.size == 0, f"{variant.fmt}: the interpreter picks another class on test images {differ.tolist()}"


def _int8_onnx_values(model_path: Path) -> set[str]:
    """Names of the int8 values of an onnxruntime-quantized ONNX graph (in topological order)."""
    import onnx

    m = onnx.load(str(model_path))
    int8 = {i.name for i in m.graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.INT8}
    for node in m.graph.node:
        quantized = node.op_type == "QuantizeLinear" or node.op_type.startswith(("QLinear", "QGemm"))
        moves_bytes = node.op_type in ("Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze")
        if quantized or (moves_bytes and node.input[0] in int8):
            int8.update(node.output)
    return int8


def test_interpreter_matches_onnxruntime_per_op(variant: Variant, graph, split) -> None:
    """Every op, fed onnxruntime's own int8 inputs, is within 1 LSB of onnxruntime's output."""
    import onnx
    import onnxruntime as ort
    from tinycc_ml.interp.registry import Operand, implementation
    from tinycc_ml.quant.qdq import quantize_f32

    exposed = sorted(t for t in _int8_onnx_values(variant.model) if t in graph.tensors)
    m = onnx.load(str(variant.model))
    m.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.INT8, None) for t in exposed)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    (io,) = graph.inputs
    worst: dict[str, int] = {}
    for x in split.x_test[:, None]:
        theirs = {t: v.reshape(graph.tensor(t).shape) for t, v in zip(exposed, session.run(exposed, {io.onnx_name: x}))}
        assert np.array_equal(quantize_f32(x, io.quant).reshape(graph.tensor(io.tensor).shape), theirs[io.tensor])
        mine: dict[str, np.ndarray] = {}
        for node in graph.nodes:
            operands = []
            for name in node.inputs:
                tensor = graph.tensor(name) if name else None
                value = None if tensor is None else (
                    tensor.data if tensor.is_constant else theirs[name] if name in theirs else mine[name])
                operands.append(None if tensor is None else Operand(tensor, value))
            (out,) = node.outputs
            mine[out] = implementation(node.kind)(node.attrs, operands, graph.tensor(out))
            if out in theirs:
                d = int(np.abs(mine[out].astype(np.int16) - theirs[out].astype(np.int16)).max())
                worst[out] = max(worst.get(out, 0), d)
    # Every op output was compared except byte moves (QDQ's Flatten runs on floats in ONNX)
    # and tensors the frontend made up (the softmax's requantizing Lut of the QDQ form).
    onnx_values = {v for n in m.graph.node for v in n.output}
    skipped = [n.name for n in graph.nodes if n.outputs[0] not in worst
               and n.kind != "Reshape" and n.outputs[0] in onnx_values]
    assert not skipped, f"{variant.fmt}: ops not compared with onnxruntime: {skipped}"
    assert sum(n.kind == "Conv2d" for n in graph.nodes if n.outputs[0] in worst) == 3
    assert max(worst.values()) <= 1, f"{variant.fmt}: per-op differences {worst}"


@pytest.mark.parametrize("sanitize", [False, True], ids=["O2", "asan-ubsan"])
def test_host_c_equals_interpreter(variant: Variant, compiled: Path, interp_outputs, split, sanitize: bool) -> None:
    result = digits_batch.run(digits_batch.build(compiled, sanitize=sanitize), split.x_test[:, None])
    assert result.core.tobytes() == interp_outputs.core.tobytes()
    assert result.outputs.reshape(interp_outputs.probabilities.shape).tobytes() == \
        interp_outputs.probabilities.tobytes()
    host_accuracy = np.mean(result.outputs.reshape(len(split.y_test), -1).argmax(1) == split.y_test)
    ort_accuracy = np.mean(variant.ort.probabilities.argmax(1) == split.y_test)
    assert host_accuracy == ort_accuracy


def test_tinyc_run_cli_agrees_on_one_image(variant: Variant, compiled: Path, interp_outputs, split,
                                           tmp_path: Path) -> None:
    tinyc = shutil.which("tinyc")
    assert tinyc is not None, "the tinyc command is not installed (pip install -e .)"
    index = 3
    x_path, y_path = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x_path, split.x_test[index][None])
    _run([tinyc, "run", str(compiled), "--target", "host", "--input", str(x_path), "--output", str(y_path)])
    y = np.load(y_path)
    assert y.dtype == np.float32 and y.shape == (1, 10)
    assert y.tobytes() == interp_outputs.probabilities[index].tobytes()
    assert int(y.argmax()) == int(variant.ort.probabilities[index].argmax())
