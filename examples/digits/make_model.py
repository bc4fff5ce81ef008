#!/usr/bin/env python3
"""Train the digits CNN with NumPy, export it to ONNX and quantize it to int8 with onnxruntime.

    python examples/digits/make_model.py --out digits_int8.onnx [--format qdq|qoperator]

Prints the float accuracy (NumPy and onnxruntime) and the int8 accuracy (onnxruntime) on
the test split. The output is deterministic: the same bytes on every run on one machine.

If --out already exists and its SHA-256 is the one recorded in digits_int8.onnx.sha256 for
the chosen format (the checked-in model), training is skipped; --force rebuilds anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import digits_cnn as cnn  # noqa: E402
from digits_data import Split, load_split  # noqa: E402

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
CALIBRATION_IMAGES = 100
HASH_FILE = HERE / "digits_int8.onnx.sha256"


def export_float(params: cnn.Params):
    """The trained parameters as a float32 ONNX model (opset 17), input [1,1,8,8] -> [1,10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(v.astype(np.float32), name=k) for k, v in sorted(params.items())]
    nodes = []
    prev = INPUT_NAME
    for c in cnn.CONVS:
        nodes.append(helper.make_node(
            "Conv", [prev, f"{c.name}.w", f"{c.name}.b"], [f"{c.name}_out"], name=c.name,
            kernel_shape=[c.kernel, c.kernel], strides=[c.stride, c.stride], pads=[c.pad] * 4,
        ))
        nodes.append(helper.make_node("Relu", [f"{c.name}_out"], [f"{c.name}_relu"], name=f"{c.name}_relu"))
        prev = f"{c.name}_relu"
    nodes.append(helper.make_node("Flatten", [prev], ["flat"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], name="softmax", axis=-1))
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, cnn.NUM_CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tinyc-examples")
    model.ir_version = 8  # what opset 17 needs; keeps older onnxruntime builds able to load it
    onnx.checker.check_model(model, full_check=True)
    return model


def calibration_images(split: Split) -> np.ndarray:
    """~100 training images, evenly spaced over the (stratified, shuffled) training split."""
    idx = np.linspace(0, len(split.x_train) - 1, CALIBRATION_IMAGES).round().astype(int)
    return split.x_train[idx]


def quantize(float_model, calib: np.ndarray, fmt: str) -> bytes:
    """onnxruntime static quantization: int8 activations and weights, per-channel weights."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{INPUT_NAME: x[None]} for x in calib])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="digits_q_") as tmp, _quiet_root_logger():
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(float_model, src)
        quantize_static(
            str(src), str(dst), Reader(),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
        )
        return dst.read_bytes()


@contextlib.contextmanager
def _quiet_root_logger():
    """quantize_static logs a 'consider pre-processing' warning on the root logger; the model
    is already in the form pre-processing would give, so hide it (and restore the level)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def ort_predict(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs [N,10] of onnxruntime with all graph optimizations off, one image at a time."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {INPUT_NAME: xi[None]})[0] for xi in x])


def recorded_hash(fmt: str) -> str | None:
    if not HASH_FILE.exists():
        return None
    for line in HASH_FILE.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == fmt:
            return parts[0]
    return None


def build_models(formats: tuple[str, ...] = ("qdq",)) -> tuple[dict[str, bytes], dict[str, float]]:
    """Train once, export, quantize in each format; returns {format: int8 model bytes} and the
    test accuracies (float_numpy, float_onnxruntime, int8_onnxruntime_<format>)."""
    split = load_split()
    params = cnn.train(split.x_train, split.y_train)
    float_model = export_float(params)
    calib = calibration_images(split)
    models = {fmt: quantize(float_model, calib, fmt) for fmt in formats}
    acc = {
        "float_numpy": float((cnn.predict(params, split.x_test) == split.y_test).mean()),
        "float_onnxruntime": float(
            (ort_predict(float_model.SerializeToString(), split.x_test).argmax(1) == split.y_test).mean()),
    }
    for fmt, model in models.items():
        acc[f"int8_onnxruntime_{fmt}"] = float((ort_predict(model, split.x_test).argmax(1) == split.y_test).mean())
    return models, acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="where to write the int8 ONNX model")
    ap.add_argument("--format", choices=("qdq", "qoperator"), default="qdq")
    ap.add_argument("--force", action="store_true", help="rebuild even if --out matches the recorded hash")
    args = ap.parse_args(argv)

    expected = recorded_hash(args.format)
    if not args.force and expected and args.out.exists():
        if hashlib.sha256(args.out.read_bytes()).hexdigest() == expected:
            print(f"{args.out} is the recorded {args.format} model (sha256 {expected[:16]}...); "
                  "not retraining (--force to rebuild)")
            return 0

    models, acc = build_models((args.format,))
    int8 = models[args.format]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(int8)
    n_test = len(load_split().y_test)
    print(f"float accuracy (NumPy):       {acc['float_numpy']:.4f} on {n_test} test images")
    print(f"float accuracy (onnxruntime): {acc['float_onnxruntime']:.4f}")
    print(f"int8 accuracy (onnxruntime):  {acc[f'int8_onnxruntime_{args.format}']:.4f} ({args.format})")
    digest = hashlib.sha256(int8).hexdigest()
    print(f"wrote {args.out} ({len(int8)} bytes, sha256 {digest})")
    if expected and digest != expected:
        print(f"note: differs from the recorded {args.format} hash {expected[:16]}... "
              "(changed code, or another onnxruntime version, changes the bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
