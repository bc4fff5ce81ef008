"""The output directory as a component: nothing in it names the machine that made it, it
builds after a move, tinyc owns only its manifest's files (the user's src/ files and edited
main.c survive a recompile and stay out of the size measurement), and the generated sources
build with a plain Makefile that knows nothing of tinyc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

import frontend_support as fs
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.interp import run_graph
from tinycc_ml.interp.run import run_core
from tinycc_ml.quant.qdq import quantize_f32
from tinycc_ml.resources import templates_dir
from tinycc_ml.targets import TARGETS, read_build_info
from tinycc_ml.targets import pio_offline
from tinycc_ml.verification import random_input

has_arm = shutil.which("arm-none-eabi-gcc") is not None
has_qemu = shutil.which("qemu-system-arm") is not None
try:
    import platformio  # noqa: F401
    has_pio = True
except ImportError:
    has_pio = False


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "conv.onnx"
    onnx.save(fs.quantize(fs.conv_model(relu=True), "QDQ", seed=7), path)
    return path


def _compile(model: Path, out: Path, **kw):
    return compile_model(model, "stm32f746", out, CompileOptions(schedule_time_limit=0.5, **kw))


def _machine_paths(out: Path, *roots: Path) -> list[str]:
    """Files under OUT (not the build caches) that name one of `roots`."""
    needles = [str(r.resolve()).encode() for r in roots]
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and not {"build", ".pio"} & set(p.relative_to(out).parts)
                  and any(n in p.read_bytes() for n in needles))


def test_output_names_no_path_of_the_machine(tmp_path):
    out = tmp_path / "out"
    _compile(_model(tmp_path), out, measure_firmware=False)
    repo = templates_dir().parent
    assert _machine_paths(out, out, repo, tmp_path) == []
    ini = (out / "platformio.ini").read_text()
    assert "platform = symlink://platformio_qemu\n" in ini
    assert (out / "platformio_qemu/platform.json").is_file()
    manifest = json.loads((out / ".tinyc_manifest.json").read_text())["files"]
    assert "platformio_qemu/platform.json" in manifest and "src/main.c" in manifest


@pytest.mark.slow
@pytest.mark.skipif(not (has_arm and has_qemu and has_pio) and not os.environ.get("CI"),
                    reason="needs arm-none-eabi-gcc, qemu-system-arm and platformio")
def test_project_builds_and_runs_after_being_moved(tmp_path):
    model = _model(tmp_path)
    first, moved = tmp_path / "first", tmp_path / "elsewhere" / "project"
    result = _compile(model, first, measure_firmware=False)
    core = pio_offline.prepare_core_dir(tmp_path / "core")
    outputs = []
    for project in (first, moved):
        if project is moved:
            moved.parent.mkdir()
            shutil.move(first, moved)  # the core still links the first place: it must follow
        run = pio_offline.run_pio(project, ["run", "-e", "qemu_m7", "-t", "upload"], core, timeout=600)
        assert run.returncode == 0, run.output
        printed = re.search(r"^tinyc: output((?: -?\d+)+)\s*$", run.output, re.MULTILINE)
        assert printed is not None, run.output
        outputs.append([int(v) for v in printed.group(1).split()])
    g = result.imported  # the board main feeds the int8 test input to the int8 core and prints its int8 output
    x = np.load(moved / "test_input.npy")  # in the model's input dtype (float32 here): back to the int8 core's
    io = g.inputs[0]
    x = quantize_f32(x, io.quant) if x.dtype == np.float32 else x
    expected = run_core(g, {io.tensor: x})[g.outputs[0].tensor]
    assert outputs[0] == outputs[1] == expected.reshape(-1).tolist()


def test_user_files_survive_a_recompile_and_stay_out_of_the_size(tmp_path):
    model, out = _model(tmp_path), tmp_path / "out"
    first = _compile(model, out, measure_firmware=has_arm)
    # The user's own code next to the model: it would not even compile on its own.
    (out / "src/app_sensor.c").write_text('#include "stm32f7xx_hal.h"\nvoid app_sensor(void) { HAL_Delay(1); }\n')
    (out / "src/app_sensor.h").write_text("void app_sensor(void);\n")
    (out / "notes.txt").write_text("calibration notes\n")
    main_c = out / "src/main.c"
    tinyc_main = main_c.read_text()
    second = _compile(model, out, measure_firmware=has_arm)
    assert (out / "src/app_sensor.c").is_file() and (out / "notes.txt").read_text() == "calibration notes\n"
    assert main_c.read_text() == tinyc_main and second.kept == ()
    manifest = json.loads((out / ".tinyc_manifest.json").read_text())["files"]
    assert "src/app_sensor.c" not in manifest and "notes.txt" not in manifest
    if has_arm:
        assert second.footprint.size == first.footprint.size  # measured without the user's files
    # An edited main.c is the user's: kept, said so, and no longer owned.
    main_c.write_text(tinyc_main + "/* my change */\n")
    third = _compile(model, out, measure_firmware=False)
    assert main_c.read_text().endswith("/* my change */\n")
    assert third.kept == ("src/main.c",)
    assert "  kept your src/main.c (changed since tinyc wrote it; delete it to get tinyc's again)" in third.summary_lines()
    assert "src/main.c" not in json.loads((out / ".tinyc_manifest.json").read_text())["files"]
    # Deleted, it is tinyc's again.
    main_c.unlink()
    assert _compile(model, out, measure_firmware=False).kept == () and main_c.read_text() == tinyc_main
    # The host build and the QEMU firmware leave the user's files out too.
    info = read_build_info(out)
    x = random_input(first.imported.inputs[0], np.random.default_rng(0))
    expected = run_graph(first.imported, {first.imported.inputs[0].onnx_name: x})[first.imported.outputs[0].onnx_name]
    assert TARGETS["host"].run(info, x, lambda _m: None).output.tobytes() == expected.tobytes()
    if has_arm and has_qemu:
        assert TARGETS["qemu-m7"].run(info, x, lambda _m: None).output.tobytes() == expected.tobytes()


def test_a_recompile_removes_only_the_files_tinyc_wrote(tmp_path):
    model, out = _model(tmp_path), tmp_path / "out"
    _compile(model, out, measure_firmware=False, name="first")
    (out / "src/first_extra_by_user.c").write_text("int user_value = 1;\n")
    _compile(model, out, measure_firmware=False, name="second")
    assert not (out / "src/first.c").exists() and (out / "src/second.c").is_file()
    assert (out / "src/first_extra_by_user.c").is_file()


PLAIN_MAKEFILE = """\
# An application's own Makefile: generic rules only, nothing that knows tinyc.
CC = gcc
CFLAGS = -std=c99 -O2 -Wall -Wextra -Werror -pedantic -Imodel -Iruntime/include
SRCS = $(wildcard app/*.c) $(wildcard model/*.c) $(wildcard runtime/src/*.c)
OBJS = $(SRCS:.c=.o)

app.elf: $(OBJS)
\t$(CC) $(OBJS) -o $@ -lm

%.o: %.c
\t$(CC) $(CFLAGS) -c $< -o $@
"""

APP_MAIN = """\
#include <stdio.h>
#include "model.h"

int main(void)
{
    static float x[MODEL_INPUT_SIZE];
    static float y[MODEL_OUTPUT_SIZE];
    FILE *f = fopen("x.bin", "rb");
    if (f == NULL || fread(x, sizeof x[0], MODEL_INPUT_SIZE, f) != MODEL_INPUT_SIZE) {
        return 2;
    }
    fclose(f);
    if (model_init() != MODEL_OK || model_run(x, y) != MODEL_OK) {
        return 3;
    }
    f = fopen("y.bin", "wb");
    if (f == NULL || fwrite(y, sizeof y[0], MODEL_OUTPUT_SIZE, f) != MODEL_OUTPUT_SIZE || fclose(f) != 0) {
        return 4;
    }
    return 0;
}
"""


def test_readme_files_build_with_a_plain_makefile(tmp_path):
    out = tmp_path / "out"
    result = _compile(_model(tmp_path), out, measure_firmware=False)
    readme = (out / "README.md").read_text()
    for row in ("| `src/model.h` | your include path |", "| `src/model.c`, `src/model_weights.c` | your sources |",
                "| `lib/tinyc/include/tinyc/*.h` |", "| `lib/tinyc/src/*.c` | your sources |"):
        assert row in readme, row
    # Copy exactly what the README lists into an application tree of its own shape.
    app = tmp_path / "app"
    (app / "model").mkdir(parents=True)
    for name in ("model.h", "model.c", "model_weights.c"):
        shutil.copy(out / "src" / name, app / "model" / name)
    shutil.copytree(out / "lib/tinyc/include", app / "runtime/include")
    shutil.copytree(out / "lib/tinyc/src", app / "runtime/src")
    (app / "app").mkdir()
    (app / "app/main.c").write_text(APP_MAIN)
    (app / "Makefile").write_text(PLAIN_MAKEFILE)
    build = subprocess.run(["make", "-C", str(app), "--no-print-directory"], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    g = result.imported
    x = random_input(g.inputs[0], np.random.default_rng(1))
    (app / "x.bin").write_bytes(x.tobytes())
    run = subprocess.run([str(app / "app.elf")], cwd=app, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    expected = run_graph(g, {g.inputs[0].onnx_name: x})[g.outputs[0].onnx_name]
    assert (app / "y.bin").read_bytes() == expected.astype(np.float32).tobytes()
