"""The generated C API used from hand-written C, as a firmware engineer would use it:
status codes, init before invoke, the consumed input and --preserve-input, the static arena's
section and --arena extern, the weights' section, two models in one program (host and
qemu-m7), and the float-edge helpers. Every output is compared bit for bit with the NumPy
interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

import frontend_support as fs
from capi_support import driver_source, run_host, run_qemu_m7
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.verification import random_input

KWS = fs.MLPERF_ONNX / "kws.tf2onnx_int8.onnx"
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None and not os.environ.get("CI"),
                               reason="needs arm-none-eabi-gcc (make setup-system)")
needs_qemu = pytest.mark.skipif((shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None)
                                and not os.environ.get("CI"), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def _options(**kw) -> CompileOptions:
    return CompileOptions(measure_firmware=False, schedule_time_limit=0.5, **kw)


def _conv_onnx(tmp_path: Path, name: str, seed: int, shape=(1, 4, 9, 9), out_ch: int = 6) -> Path:
    """A small onnxruntime QDQ conv (float32 input and output, as ort's quantizer makes them)."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(fs.quantize(fs.conv_model(x_shape=shape, out_ch=out_ch, relu=True), "QDQ", seed=seed), path)
    return path


def _kws(tmp_path: Path, **kw):
    if not KWS.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{KWS} is missing")
        pytest.skip(f"{KWS} is absent")
    return compile_model(KWS, "stm32f746", tmp_path / "kws", _options(**kw))


def _expected(result, x: np.ndarray) -> np.ndarray:
    graph = result.imported
    return run_graph(graph, {graph.inputs[0].onnx_name: x})[graph.outputs[0].onnx_name]


# The same body for any one-input one-output int8 model: invoke twice on one filled input.
INVOKE_TWICE = """\
    CHECK(model_invoke() == MODEL_ERROR_NOT_INITIALISED);
    CHECK(model_init() == MODEL_OK);
    memcpy(model_input(), in_bytes, MODEL_INPUT_SIZE);
    CHECK(model_invoke() == MODEL_OK);
    memcpy(out_bytes, model_output(), MODEL_OUTPUT_SIZE);
    CHECK(model_invoke() == MODEL_OK);
    memcpy(out_bytes + MODEL_OUTPUT_SIZE, model_output(), MODEL_OUTPUT_SIZE);
    out_bytes[2 * MODEL_OUTPUT_SIZE] = (uint8_t)(memcmp(model_input(), in_bytes, MODEL_INPUT_SIZE) == 0);
"""


@pytest.mark.models
def test_kws_input_is_consumed_and_the_header_says_so(tmp_path):
    result = _kws(tmp_path)
    header = (tmp_path / "kws/src/model.h").read_text()
    assert " * CONSUMED: invoke uses these bytes as working memory, so after invoke they no longer hold the\n" in header
    assert "#define MODEL_PRESERVES_INPUT 0" in header
    x = random_input(result.imported.inputs[0], np.random.default_rng(3))
    n = x.size
    out = run_host(tmp_path / "drv", [tmp_path / "kws"], driver_source(["model"], INVOKE_TWICE, n, 2 * 12 + 1),
                   x.tobytes(), 2 * 12 + 1)
    assert out[:12] == _expected(result, x).tobytes()
    assert out[24] == 0  # the plan wrote over the input, as the header warns


@pytest.mark.models
def test_kws_preserve_input_invokes_twice_to_the_same_output(tmp_path):
    consumed = _kws(tmp_path / "a")
    result = _kws(tmp_path / "b", preserve_input=True)
    out_dir = tmp_path / "b/kws"
    header = (out_dir / "src/model.h").read_text()
    assert " * Preserved (--preserve-input): it still holds the same values after invoke.\n" in header
    assert "#define MODEL_PRESERVES_INPUT 1" in header
    assert result.report["preserve_input"] is True
    cost = result.report["preserve_input_cost_bytes"]
    assert cost == result.context.arena_bytes - consumed.context.arena_bytes and cost > 0
    assert any(line.endswith(f"at +{cost:,} B of arena") for line in result.summary_lines())
    for seed in range(2):
        x = random_input(result.imported.inputs[0], np.random.default_rng(seed))
        out = run_host(tmp_path / f"drv{seed}", [out_dir], driver_source(["model"], INVOKE_TWICE, x.size, 25),
                       x.tobytes(), 25)
        expected = _expected(result, x).tobytes()
        assert (out[:12], out[12:24], out[24]) == (expected, expected, 1)


EXTERN_BODY = """\
    static uint8_t arena[MODEL_ARENA_BYTES + 32] __attribute__((aligned(16)));
    float y[MODEL_OUTPUT_SIZE];
    CHECK(MODEL_ARENA_EXTERN == 1);
    CHECK(model_input() == NULL && model_output() == NULL);
    CHECK(model_invoke() == MODEL_ERROR_NOT_INITIALISED);
    CHECK(model_init(NULL, sizeof arena) == MODEL_ERROR_ARENA_MISALIGNED);
    CHECK(model_init(arena + 1, MODEL_ARENA_BYTES) == MODEL_ERROR_ARENA_MISALIGNED);
    CHECK(model_init(arena + 8, MODEL_ARENA_BYTES) == MODEL_ERROR_ARENA_MISALIGNED);
    CHECK(model_init(arena, MODEL_ARENA_BYTES - 1) == MODEL_ERROR_ARENA_TOO_SMALL);
    CHECK(model_invoke() == MODEL_ERROR_NOT_INITIALISED);
    memset(arena, 0xA5, sizeof arena); /* the model must not rely on a zeroed arena */
    CHECK(model_init(arena + 16, MODEL_ARENA_BYTES) == MODEL_OK);
    CHECK((uint8_t *)model_input() >= arena + 16 && (uint8_t *)model_input() < arena + 16 + MODEL_ARENA_BYTES);
    CHECK(model_run((const float *)in_bytes, y) == MODEL_OK);
    memcpy(out_bytes, y, sizeof y);
"""


def test_extern_arena_checks_size_and_alignment(tmp_path):
    result = compile_model(_conv_onnx(tmp_path, "c", 1), "stm32f746", tmp_path / "out", _options(arena="extern"))
    c = (tmp_path / "out/src/model.c").read_text()
    assert "static uint8_t *model_arena = NULL;" in c and "section(" not in c
    assert result.report["arena"] == "extern"
    x = random_input(result.imported.inputs[0], np.random.default_rng(0))
    y = _expected(result, x)
    out = run_host(tmp_path / "drv", [tmp_path / "out"], driver_source(["model"], EXTERN_BODY, x.nbytes, y.nbytes),
                   x.tobytes(), y.nbytes)
    assert out == y.tobytes()


FLOAT_EDGE_BODY = """\
    float y[MODEL_OUTPUT_SIZE];
    CHECK(model_quantize_input((const float *)in_bytes) == MODEL_ERROR_NOT_INITIALISED);
    CHECK(model_init() == MODEL_OK);
    CHECK(model_quantize_input((const float *)in_bytes) == MODEL_OK);
    CHECK(model_invoke() == MODEL_OK);
    CHECK(model_dequantize_output(y) == MODEL_OK);
    memcpy(out_bytes, y, sizeof y);
"""


def test_float_edge_helpers_match_the_interpreter(tmp_path):
    result = compile_model(_conv_onnx(tmp_path, "c", 2), "stm32f746", tmp_path / "out", _options())
    header = (tmp_path / "out/src/model.h").read_text()
    assert "model_status model_quantize_input(const float *values);" in header
    assert "model_status model_dequantize_output(float *values);" in header
    for seed in range(2):
        x = random_input(result.imported.inputs[0], np.random.default_rng(seed))
        y = _expected(result, x)
        out = run_host(tmp_path / f"drv{seed}", [tmp_path / "out"],
                       driver_source(["model"], FLOAT_EDGE_BODY, x.nbytes, y.nbytes), x.tobytes(), y.nbytes)
        assert out == y.tobytes()


def _symbols(obj: Path) -> dict[str, tuple[str, int]]:
    """Symbol -> (section, size) of an object file (objdump -t)."""
    text = subprocess.run(["arm-none-eabi-objdump", "-t", str(obj)], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in text.splitlines():
        if "\t" in line and " O " in line:
            left, right = line.split("\t", 1)
            size, name = right.split()
            table[name] = (left.split()[-1], int(size, 16))
    return table


@needs_arm
def test_arena_and_weights_sections_are_overridable(tmp_path):
    result = compile_model(_conv_onnx(tmp_path, "c", 3), "stm32f746", tmp_path / "out", _options(name="net"))
    arena = result.context.arena_bytes
    weights = {c.c_name: c.nbytes for c in result.context.consts}
    src = tmp_path / "out/src"
    flags = ["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
             f"-I{src}", f"-I{tmp_path / 'out/lib/tinyc/include'}", "-c"]

    def symbols(source: str, *defines: str) -> dict[str, tuple[str, int]]:
        obj = tmp_path / f"{source}-{len(defines)}.o"
        subprocess.run([*flags, *defines, str(src / source), "-o", str(obj)], check=True)
        return _symbols(obj)

    for defines, section in (((), ".bss.tinyc_arena"), (("-DTINYC_ARENA_SECTION=\".sram2\"",), ".sram2"),
                             (("-DTINYC_ARENA_SECTION=\".sram2\"", "-DNET_ARENA_SECTION=\".dtcm\""), ".dtcm")):
        table = symbols("net.c", *defines)
        # the arena alone fills its section (linker scripts place exactly it); the state word is plain .bss
        assert (table["net_arena"], table["net_ready"]) == ((section, arena), (".bss", 4)), defines
    for defines, section in (((), ".rodata"), (("-DTINYC_WEIGHTS_SECTION=\".qspi\"",), ".qspi"),
                             (("-DNET_WEIGHTS_SECTION=\".extflash\"",), ".extflash")):
        table = symbols("net_weights.c", *defines)
        assert {name: table[name] for name in weights} == {n: (section, b) for n, b in weights.items()}, defines


def _two_models(tmp_path: Path):
    a = compile_model(_conv_onnx(tmp_path, "a", 4), "stm32f746", tmp_path / "a", _options(name="alpha"))
    b = compile_model(_conv_onnx(tmp_path, "b", 5, shape=(1, 3, 7, 7), out_ch=5), "stm32f746", tmp_path / "b",
                      _options(name="beta", arena="extern"))
    xa = random_input(a.imported.inputs[0], np.random.default_rng(1))
    xb = random_input(b.imported.inputs[0], np.random.default_rng(2))
    ya, yb = _expected(a, xa), _expected(b, xb)
    # Interleaved: both initialised, both inputs written, then the invokes alternate; each
    # model's output must be its own (no shared arena, symbol or runtime state).
    body = f"""\
    static uint8_t beta_arena[BETA_ARENA_BYTES] __attribute__((aligned(BETA_ARENA_ALIGNMENT)));
    CHECK(alpha_init() == ALPHA_OK);
    CHECK(beta_init(beta_arena, sizeof beta_arena) == BETA_OK);
    CHECK(alpha_quantize_input((const float *)in_bytes) == ALPHA_OK);
    CHECK(beta_quantize_input((const float *)(in_bytes + {xa.nbytes})) == BETA_OK);
    CHECK(alpha_invoke() == ALPHA_OK);
    CHECK(beta_invoke() == BETA_OK);
    CHECK(alpha_dequantize_output((float *)out_bytes) == ALPHA_OK);
    CHECK(beta_quantize_input((const float *)(in_bytes + {xa.nbytes})) == BETA_OK);
    CHECK(alpha_quantize_input((const float *)in_bytes) == ALPHA_OK);
    CHECK(beta_invoke() == BETA_OK);
    CHECK(beta_dequantize_output((float *)(out_bytes + {ya.nbytes})) == BETA_OK);
    CHECK(alpha_invoke() == ALPHA_OK);
    CHECK(alpha_dequantize_output((float *)(out_bytes + {ya.nbytes + yb.nbytes})) == ALPHA_OK);
"""
    n_out = 2 * ya.nbytes + yb.nbytes
    driver = driver_source(["alpha", "beta"], body, xa.nbytes + xb.nbytes, n_out)
    expected = ya.tobytes() + yb.tobytes() + ya.tobytes()
    return [tmp_path / "a", tmp_path / "b"], driver, xa.tobytes() + xb.tobytes(), expected


def test_two_models_link_into_one_program_and_run_interleaved_on_the_host(tmp_path):
    out_dirs, driver, x, expected = _two_models(tmp_path)
    assert run_host(tmp_path / "drv", out_dirs, driver, x, len(expected)) == expected


@needs_qemu
def test_two_models_link_into_one_firmware_and_run_interleaved_on_qemu_m7(tmp_path):
    out_dirs, driver, x, expected = _two_models(tmp_path)
    assert run_qemu_m7(tmp_path / "drv", out_dirs, driver, x, len(expected)) == expected


def test_header_states_status_codes_and_reentrancy(tmp_path):
    compile_model(_conv_onnx(tmp_path, "c", 6), "stm32f746", tmp_path / "out", _options(name="net"))
    header = (tmp_path / "out/src/net.h").read_text()
    for line in ("    NET_OK = 0,", "} net_status;", "net_status net_init(void);", "net_status net_invoke(void);",
                 "net_status net_run(const float *input, float *output);", "#define NET_ARENA_ALIGNMENT 16",
                 " * Re-entrancy: one model instance per arena. The functions of this model share its arena"):
        assert line in header.splitlines(), line


def _two_branch_onnx(tmp_path: Path) -> Path:
    """A two-input, two-output QDQ model: y1 = Relu(Conv(a)), y2 = y1 + b (y1 is also read inside)."""
    from onnx import helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    nodes = [helper.make_node("Conv", ["a", "w", "bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y1"], name="relu"),
             helper.make_node("Add", ["y1", "b"], ["y2"], name="add")]
    inits = {"w": fs.rand((6, 4, 3, 3), 1, 0.5), "bias": fs.rand((6,), 2, 0.1)}
    float_model = fs.model(nodes, [("a", (1, 4, 5, 5)), ("b", (1, 6, 5, 5))],
                           [("y1", (1, 6, 5, 5)), ("y2", (1, 6, 5, 5))], inits)
    rng = np.random.default_rng(0)
    batches = iter([{"a": rng.standard_normal((1, 4, 5, 5)).astype(np.float32),
                     "b": rng.standard_normal((1, 6, 5, 5)).astype(np.float32)} for _ in range(4)])

    class Reader(CalibrationDataReader):
        def get_next(self):  # noqa: ANN201 - onnxruntime's interface
            return next(batches, None)

    src, dst = tmp_path / "two_branch_f.onnx", tmp_path / "two_branch.onnx"
    onnx.save(float_model, src)
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    return dst


MULTI_IO_BODY = """\
    CHECK(MODEL_NUM_INPUTS == 2 && MODEL_NUM_OUTPUTS == 2);
    CHECK(MODEL_INPUT_A_SIZE == 100 && MODEL_INPUT_B_SIZE == 150 && MODEL_OUTPUT_Y2_SIZE == 150);
    CHECK(model_init() == MODEL_OK);
    CHECK(model_quantize_input_a((const float *)in_bytes) == MODEL_OK);
    CHECK(model_quantize_input_b((const float *)in_bytes + MODEL_INPUT_A_SIZE) == MODEL_OK);
    CHECK(model_invoke() == MODEL_OK);
    CHECK(model_dequantize_output_y1((float *)out_bytes) == MODEL_OK);
    CHECK(model_dequantize_output_y2((float *)out_bytes + MODEL_OUTPUT_Y1_SIZE) == MODEL_OK);
    {
        float y1[MODEL_OUTPUT_Y1_SIZE], y2[MODEL_OUTPUT_Y2_SIZE];
        CHECK(model_run((const float *)in_bytes, (const float *)in_bytes + MODEL_INPUT_A_SIZE, y1, y2) == MODEL_OK);
        CHECK(memcmp(y1, out_bytes, sizeof y1) == 0 && memcmp(y2, out_bytes + sizeof y1, sizeof y2) == 0);
    }
"""


def test_two_inputs_and_two_outputs_compile_with_one_accessor_each(tmp_path):
    result = compile_model(_two_branch_onnx(tmp_path), "stm32f746", tmp_path / "out", _options())
    header = (tmp_path / "out/src/model.h").read_text().splitlines()
    for line in ("int8_t *model_input_a(void);", "int8_t *model_input_b(void);", "const int8_t *model_output_y1(void);",
                 "const int8_t *model_output_y2(void);", "#define MODEL_INPUT_B_ZERO_POINT "
                 f"{result.imported.inputs[1].quant.zp}",
                 "model_status model_run(const float *input_a, const float *input_b, float *output_y1, float *output_y2);"):
        assert line in header, line
    assert [io["name"] for io in result.report["inputs"]] == ["a", "b"]
    assert [io["name"] for io in result.report["outputs"]] == ["y1", "y2"]
    assert not (tmp_path / "out/host/main_host.c").exists()  # the one-tensor harness does not apply
    graph = result.imported
    rng = np.random.default_rng(4)
    xa, xb = (random_input(io, rng) for io in graph.inputs)
    expected = run_graph(graph, {"a": xa, "b": xb})
    y = np.concatenate([expected["y1"].reshape(-1), expected["y2"].reshape(-1)])
    out = run_host(tmp_path / "drv", [tmp_path / "out"], driver_source(["model"], MULTI_IO_BODY, xa.nbytes + xb.nbytes,
                                                                        y.nbytes), xa.tobytes() + xb.tobytes(), y.nbytes)
    assert out == y.tobytes()


def test_tinyc_run_on_a_two_input_model_says_what_to_do(tmp_path):
    from tinycc_ml.errors import TinycError
    from tinycc_ml.targets import read_build_info

    compile_model(_two_branch_onnx(tmp_path), "stm32f746", tmp_path / "out", _options())
    with pytest.raises(TinycError) as err:
        read_build_info(tmp_path / "out")
    assert str(err.value) == (f"{tmp_path / 'out'}: the model has 2 inputs ('a', 'b'); `tinyc run` feeds one input "
                              "and reads one output: call the generated accessors in src/model.h from your own program")
