"""`tinyc flash`: what it runs, and the checks that make a missing piece one clear line.

Left to itself, `pio run -t upload` on a machine without internet retries the PlatformIO
registry for about a minute and ends in an empty `HTTPClientError:`. So before running
anything, tinyc looks (in a few seconds) for what the chosen environment needs, and
stops at the first thing missing with what to do about it:

    PlatformIO itself                          -> pip install platformio
    qemu_* envs: PlatformIO's tool-scons,      -> python -m tinycc_ml.targets.pio_offline DIR
                 arm-none-eabi-gcc, qemu
    board env:   the ststm32 platform, its     -> pio pkg install on a machine with internet
                 STM32Cube framework and toolchain (only when the registry is unreachable)
                 an ST-LINK on USB             -> plug the board in

`--dry-run` prints the commands instead of running them.
"""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..boards import all_boards
from ..errors import BuildError
from .pio_offline import INSTALL_HINT, OFFLINE_SETTINGS, pio_environment
from .platformio import QEMU_ENVS

REGISTRY = ("api.registry.platformio.org", 443)
PROBE_TIMEOUT_S = 3.0
OFFLINE_DIR = "~/.tinyc/platformio"
ST_VENDOR_ID = "0483"
# USB product ids of ST-LINK/V2, V2-1 (Nucleo, Discovery), V3 and their variants.
STLINK_PRODUCT_IDS = frozenset({"3744", "3748", "374a", "374b", "374d", "374e", "374f", "3752", "3753", "3754",
                                "3755", "3757"})
USB_DEVICES = Path("/sys/bus/usb/devices")

# What PlatformIO needs, found by its own package managers in a child process (so the core
# directory is read from the environment exactly as `pio run` will read it).
_PACKAGE_PROBE = """
import json, sys
from platformio.package.manager.core import get_core_package_dir
from platformio.package.manager.platform import PlatformPackageManager
from platformio.package.manager.tool import ToolPackageManager
from platformio.project.config import ProjectConfig
platform, tools = sys.argv[1], sys.argv[2:]
found = {"core_dir": ProjectConfig.get_instance().get("platformio", "core_dir"),
         "tool-scons": bool(get_core_package_dir("tool-scons", auto_install=False))}
if platform:
    found[platform] = bool(PlatformPackageManager().get_package(platform))
for tool in tools:
    found[tool] = bool(ToolPackageManager().get_package("platformio/" + tool))
print(json.dumps(found))
"""


def registry_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the PlatformIO registry opens within `timeout` (name lookup
    included, which socket's own timeout does not bound: hence the thread)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(REGISTRY, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def stlink_attached(devices: Path = USB_DEVICES) -> bool | None:
    """An ST-LINK on USB (Linux sysfs); None where this cannot be seen (not Linux)."""
    if not devices.is_dir():
        return None
    for dev in devices.iterdir():
        try:
            vendor = (dev / "idVendor").read_text().strip().lower()
            product = (dev / "idProduct").read_text().strip().lower()
        except OSError:
            continue
        if vendor == ST_VENDOR_ID and product in STLINK_PRODUCT_IDS:
            return True
    return False


def installed_packages(out_dir: Path, platform: str, tools: tuple[str, ...]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PACKAGE_PROBE, platform, *tools], cwd=out_dir,
                          env=pio_environment(None), capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"cannot ask PlatformIO what is installed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Probes:
    """How the checks look at the world (tests replace them; the defaults look the module's
    functions up when called)."""

    registry_reachable: Callable[[], bool] = lambda: registry_reachable()  # noqa: E731
    stlink_attached: Callable[[], bool | None] = lambda: stlink_attached()  # noqa: E731
    installed_packages: Callable[[Path, str, tuple[str, ...]], dict] = (
        lambda out, platform, tools: installed_packages(out, platform, tools))  # noqa: E731
    which: Callable[[str], str | None] = lambda tool: shutil.which(tool)  # noqa: E731


@dataclass(frozen=True)
class ProjectEnv:
    name: str
    platform: str
    board: str
    upload_protocol: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_qemu(self) -> bool:
        return self.name in QEMU_ENVS


def read_env(out_dir: Path, env_name: str | None) -> ProjectEnv:
    """The environment `pio run` would use: --env, else platformio.ini's default_envs."""
    ini = Path(out_dir) / "platformio.ini"
    if not ini.is_file():
        raise BuildError(f"{out_dir} has no platformio.ini; compile the model with `tinyc compile ... -o {out_dir}` first")
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    try:
        parser.read_string(ini.read_text())
    except configparser.Error as exc:
        raise BuildError(f"{ini} is not a valid platformio.ini ({exc}); recompile the model into {out_dir}") from None
    envs = [s[4:] for s in parser.sections() if s.startswith("env:")]
    name = env_name or parser.get("platformio", "default_envs", fallback="").split(",")[0].strip()
    if name not in envs:
        raise BuildError(f"{ini} has no environment '{name}'; it has: {', '.join(envs)}")
    section = dict(parser.items(f"env:{name}"))
    return ProjectEnv(name, section.get("platform", ""), section.get("board", ""),
                      section.get("upload_protocol", ""), section)


def framework_packages(env: ProjectEnv) -> tuple[str, ...]:
    """The ststm32 packages a board env's build and upload download on first use."""
    board = next((b for b in all_boards() if b.platformio is not None and b.platformio.board == env.board), None)
    family = board.mcu[5:7].lower() if board is not None else ""
    tools = ["toolchain-gccarmnoneeabi", *([f"framework-stm32cube{family}"] if family else [])]
    if env.upload_protocol == "stlink":
        tools.append("tool-openocd")
    return tuple(tools)


def check_ready(out_dir: Path, env: ProjectEnv, probes: Probes = Probes()) -> None:
    """Raise one BuildError line naming the first missing piece and what to do."""
    try:
        import platformio  # noqa: F401, PLC0415
    except ImportError:
        raise BuildError(f"PlatformIO is not installed; {INSTALL_HINT}") from None
    offline_setup = (f"set it up offline with `python -m tinycc_ml.targets.pio_offline {OFFLINE_DIR}` and "
                     f"`export PLATFORMIO_CORE_DIR={OFFLINE_DIR}`")
    if env.is_qemu:
        for tool, hint in (("arm-none-eabi-gcc", "`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi`"),
                           ("qemu-system-arm", "`apt-get install qemu-system-arm`")):
            if probes.which(tool) is None:
                raise BuildError(f"{tool} is not installed, which the {env.name} environment needs; install it with {hint}")
        found = probes.installed_packages(out_dir, "", ())
        if not found["tool-scons"] and not probes.registry_reachable():
            raise BuildError(f"PlatformIO's build tool (tool-scons) is not in {found['core_dir']} and the PlatformIO "
                             f"registry cannot be reached; {offline_setup}")
        return
    tools = framework_packages(env)
    found = probes.installed_packages(out_dir, env.platform, tools)
    missing = [name for name in (env.platform, *tools, "tool-scons") if not found.get(name, False)]
    if missing and not probes.registry_reachable():
        raise BuildError(
            f"the {env.name} environment needs PlatformIO's {', '.join(missing)}, which are not in {found['core_dir']}, "
            f"and the PlatformIO registry cannot be reached: connect to the internet (the first `tinyc flash` downloads "
            f"them), or install them elsewhere with `pio pkg install -g -p {env.platform}` plus one `pio run -e {env.name}` "
            f"and copy {found['core_dir']} here; meanwhile `tinyc flash {out_dir} --env qemu_m7` runs the model on QEMU")
    if env.upload_protocol == "stlink" and probes.stlink_attached() is False:
        raise BuildError(f"no ST-LINK found on USB for the {env.name} environment: connect the board's ST-LINK USB "
                         "port (a data cable, not a charge-only one), then run `tinyc flash` again")


def planned_commands(env_name: str | None, monitor: bool) -> list[list[str]]:
    """The PlatformIO commands `tinyc flash` runs (as platformio.flash_commands, without
    requiring PlatformIO, so --dry-run can print them anywhere)."""
    pio = [sys.executable, "-m", "platformio"]
    env_args = ["-e", env_name] if env_name else []
    commands = [[*pio, "run", "-t", "upload", *env_args]]
    if monitor:
        commands.append([*pio, "device", "monitor", *env_args])
    return commands


def dry_run_lines(out_dir: Path, commands: list[list[str]], environ: Mapping[str, str]) -> list[str]:
    """Shell lines doing what `tinyc flash` does: the directory, the settings it adds to
    PlatformIO's environment (and the core directory, when one is set), the commands."""
    settings = dict(OFFLINE_SETTINGS)
    if environ.get("PLATFORMIO_CORE_DIR"):
        settings["PLATFORMIO_CORE_DIR"] = environ["PLATFORMIO_CORE_DIR"]
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
    return [f"cd {shlex.quote(str(out_dir))}", f"export {exports}", *(shlex.join(c) for c in commands)]
