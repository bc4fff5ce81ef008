"""`tinyc flash` as a new user meets it: whatever is missing (PlatformIO, the ststm32 platform
with no way to download it, the offline set-up of the qemu environments, the board itself)
is one line that says what to do, within seconds instead of a minute-long registry retry;
--dry-run prints the commands. The registry and USB probes are replaced where the test
needs a given answer; nothing here opens a network connection."""

from __future__ import annotations

import shlex
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinycc_ml.cli import main as cli
from tinycc_ml.compiler import CompileOptions, compile_model
from tinycc_ml.errors import BuildError
from tinycc_ml.targets import flash, pio_offline
from tinycc_ml.targets.pio_offline import OFFLINE_SETTINGS

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits_int8.onnx"
PIO = [sys.executable, "-m", "platformio"]
OFFLINE_SETUP = ("set it up offline with `python -m tinycc_ml.targets.pio_offline ~/.tinyc/platformio` and "
                 "`export PLATFORMIO_CORE_DIR=~/.tinyc/platformio`")
try:
    import platformio  # noqa: F401

    has_platformio = True
except ImportError:
    has_platformio = False
needs_platformio = pytest.mark.skipif(not has_platformio, reason="PlatformIO is not installed (pip install '.[test]')")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("flash") / "digits"
    compile_model(DIGITS, "stm32f746", out, CompileOptions(measure_firmware=False))
    return out


@pytest.fixture
def offline(monkeypatch, tmp_path) -> Path:
    """An empty PlatformIO core directory and an unreachable registry."""
    core = tmp_path / "core"
    core.mkdir()
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
    monkeypatch.setattr(flash, "registry_reachable", lambda timeout=0: False)
    return core


def _flash(*args: str):
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["flash", *args])
    return result, time.monotonic() - start


@needs_platformio
def test_board_env_without_ststm32_offline_is_one_line(project, offline):
    result, seconds = _flash(str(project))
    assert result.exit_code == 2
    assert result.output == (
        f"error: the stm32f746 environment needs PlatformIO's ststm32, toolchain-gccarmnoneeabi, "
        f"framework-stm32cubef7, tool-openocd, tool-scons, which are not in {offline}, and the PlatformIO registry "
        f"cannot be reached: connect to the internet (the first `tinyc flash` downloads them), or install them "
        f"elsewhere with `pio pkg install -g -p ststm32` plus one `pio run -e stm32f746` and copy {offline} here; "
        f"meanwhile `tinyc flash {project} --env qemu_m7` runs the model on QEMU\n")
    assert seconds < 30  # not PlatformIO's 61 s of registry retries


@needs_platformio
def test_qemu_env_without_offline_setup_names_pio_offline(project, offline):
    result, seconds = _flash(str(project), "--env", "qemu_m7")
    assert result.exit_code == 2
    assert result.output == (f"error: PlatformIO's build tool (tool-scons) is not in {offline} and the PlatformIO "
                             f"registry cannot be reached; {OFFLINE_SETUP}\n")
    assert seconds < 30


@needs_platformio
def test_qemu_env_after_offline_setup_is_ready(project, offline):
    pio_offline.prepare_core_dir(offline)
    env = flash.read_env(project, "qemu_m4")
    flash.check_ready(project, env, flash.Probes(registry_reachable=lambda: False))  # no error: pio may run


@needs_platformio
def test_board_not_attached_is_one_line(project):
    installed = {"core_dir": "/core", "tool-scons": True, "ststm32": True, "toolchain-gccarmnoneeabi": True,
                 "framework-stm32cubef7": True, "tool-openocd": True}
    probes = flash.Probes(registry_reachable=lambda: False, stlink_attached=lambda: False,
                          installed_packages=lambda out, platform, tools: installed)
    env = flash.read_env(project, None)
    with pytest.raises(BuildError) as err:
        flash.check_ready(project, env, probes)
    assert str(err.value) == ("no ST-LINK found on USB for the stm32f746 environment: connect the board's ST-LINK USB "
                              "port (a data cable, not a charge-only one), then run `tinyc flash` again")
    # attached, or not visible on this OS: PlatformIO runs
    flash.check_ready(project, env, flash.Probes(stlink_attached=lambda: True,
                                                 installed_packages=lambda out, platform, tools: installed))
    flash.check_ready(project, env, flash.Probes(stlink_attached=lambda: None,
                                                 installed_packages=lambda out, platform, tools: installed))


@needs_platformio
def test_missing_packages_with_internet_let_platformio_download(project):
    nothing = {"core_dir": "/core", "tool-scons": False}
    probes = flash.Probes(registry_reachable=lambda: True, stlink_attached=lambda: True,
                          installed_packages=lambda out, platform, tools: nothing)
    flash.check_ready(project, flash.read_env(project, None), probes)
    flash.check_ready(project, flash.read_env(project, "qemu_m7"), probes)


def test_stlink_is_found_in_sysfs(tmp_path):
    for name, vendor, product in (("1-1", "1d6b", "0002"), ("1-2", "0483", "374b")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "idVendor").write_text(vendor + "\n")
        (tmp_path / name / "idProduct").write_text(product + "\n")
    assert flash.stlink_attached(tmp_path) is True
    (tmp_path / "1-2" / "idProduct").write_text("5740\n")  # an ST virtual COM port without ST-LINK
    assert flash.stlink_attached(tmp_path) is False
    assert flash.stlink_attached(tmp_path / "absent") is None


def test_missing_tools_for_qemu_env(project):
    probes = flash.Probes(which=lambda tool: None if tool == "qemu-system-arm" else "/usr/bin/" + tool)
    with pytest.raises(BuildError) as err:
        flash.check_ready(project, flash.read_env(project, "qemu_m7"), probes)
    assert str(err.value) == ("qemu-system-arm is not installed, which the qemu_m7 environment needs; install it with "
                              "`apt-get install qemu-system-arm`")


def test_dry_run_prints_the_commands(project, monkeypatch):
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", "/opt/pio core")
    result, _ = _flash(str(project), "--env", "qemu_m4", "--monitor", "--dry-run")
    assert result.exit_code == 0
    exports = " ".join(f"{k}={v}" for k, v in OFFLINE_SETTINGS.items())
    assert result.output.splitlines() == [
        f"cd {shlex.quote(str(project))}",
        f"export {exports} PLATFORMIO_CORE_DIR='/opt/pio core'",
        shlex.join([*PIO, "run", "-t", "upload", "-e", "qemu_m4"]),
        shlex.join([*PIO, "device", "monitor", "-e", "qemu_m4"]),
    ]


def test_dry_run_needs_no_platformio(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "platformio", None)
    monkeypatch.delenv("PLATFORMIO_CORE_DIR", raising=False)
    result, _ = _flash(str(project), "--dry-run")
    assert result.exit_code == 0 and result.output.splitlines()[-1] == shlex.join([*PIO, "run", "-t", "upload"])


def test_unknown_env_lists_the_projects_envs(project):
    result, _ = _flash(str(project), "--env", "nucleo_f446re")
    assert result.exit_code == 2
    assert result.output == (f"error: {project / 'platformio.ini'} has no environment 'nucleo_f446re'; it has: "
                             "stm32f746, qemu_m7, qemu_m4, qemu_m33, qemu_m3\n")


def test_registry_probe_gives_up_quickly(monkeypatch):
    release = threading.Event()

    def hang(address, timeout):  # a name lookup that does not answer until the test ends
        release.wait()
        raise OSError("no answer")

    monkeypatch.setattr(flash.socket, "create_connection", hang)
    start = time.monotonic()
    try:
        assert flash.registry_reachable(timeout=0.2) is False
        assert time.monotonic() - start < 5
    finally:
        release.set()
