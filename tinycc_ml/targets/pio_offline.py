"""Run PlatformIO without internet: the generated project's qemu_* environments build and
run from a fresh PLATFORMIO_CORE_DIR with nothing downloaded.

PlatformIO itself needs one package before it builds anything: `tool-scons` (SCons, the
build engine). tinyc installs a stand-in into the core directory: a package.json naming
the version PlatformIO pins (platformio.dependencies), the `.piopm` metadata PlatformIO's
package manager reads (owner platformio), and a scons.py that runs the SCons installed from
PyPI (`pip install scons`). tinyc's own platform (boards/platformio, `platform =
symlink://platformio_qemu` in platformio.ini: a copy inside the project) declares no packages and uses the system
arm-none-eabi-gcc and qemu-system-arm.

For users without internet:

    python -m tinycc_ml.targets.pio_offline ~/.tinyc/platformio
    export PLATFORMIO_CORE_DIR=~/.tinyc/platformio
    cd OUT && pio run -e qemu_m7 -t upload
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError

SCONS_PACKAGE = "tool-scons"
INSTALL_HINT = "install it with `pip install platformio` (and `pip install scons` to build offline)"
SCONS_LAUNCHER = '''\
# tinyc: PlatformIO's tool-scons package, backed by the SCons installed from PyPI.
import sys
from SCons.Script.Main import main
sys.exit(main())
'''
# No update checks, telemetry or HTTP cache: nothing that would reach the network.
OFFLINE_SETTINGS = {
    "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no",
    "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
    "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0",
    "PLATFORMIO_SETTING_ENABLE_CACHE": "no",
    "PLATFORMIO_DISABLE_PROGRESSBAR": "true",
}


@dataclass(frozen=True)
class PioRun:
    returncode: int
    output: str  # stdout and stderr, interleaved


def pinned_scons_version() -> str:
    """The tool-scons package version this PlatformIO requires, e.g. '4.41101.0' (SCons 4.11.1)."""
    try:
        from platformio.dependencies import get_core_dependencies  # noqa: PLC0415
    except ImportError:
        raise BuildError(f"PlatformIO is not installed; {INSTALL_HINT}") from None
    requirement = get_core_dependencies()[SCONS_PACKAGE]
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", requirement)
    if match is None:
        raise BuildError(f"cannot read PlatformIO's {SCONS_PACKAGE} requirement {requirement!r}")
    return ".".join(match.groups())


def scons_available() -> bool:
    try:
        import SCons.Script.Main  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def install_scons_package(core_dir: Path) -> Path:
    """Install the tool-scons stand-in into core_dir/packages; its directory."""
    from platformio.package.meta import PackageMetadata, PackageSpec  # noqa: PLC0415

    if not scons_available():
        raise BuildError(f"SCons is not installed; {INSTALL_HINT}")
    version = pinned_scons_version()
    pkg = Path(core_dir) / "packages" / SCONS_PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": SCONS_PACKAGE,
        "version": version,
        "description": "SCons from PyPI, installed by tinyc for offline PlatformIO builds",
        "keywords": ["build tools"],
        "license": "MIT",
    }
    (pkg / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (pkg / "scons.py").write_text(SCONS_LAUNCHER)
    meta = PackageMetadata(type="tool", name=SCONS_PACKAGE, version=version,
                           spec=PackageSpec(owner="platformio", name=SCONS_PACKAGE))
    meta.dump(str(pkg / ".piopm"))
    return pkg


def prepare_core_dir(core_dir: Path) -> Path:
    """A PlatformIO core directory that builds tinyc's qemu environments offline."""
    core_dir = Path(core_dir).expanduser().resolve()
    core_dir.mkdir(parents=True, exist_ok=True)
    install_scons_package(core_dir)
    return core_dir


def pio_environment(core_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_SETTINGS)
    if core_dir is not None:
        env["PLATFORMIO_CORE_DIR"] = str(core_dir)
    return env


def pio_command() -> list[str]:
    """PlatformIO through this Python, so it finds the same SCons; error if it is missing."""
    try:
        import platformio  # noqa: F401, PLC0415
    except ImportError:
        raise BuildError(f"PlatformIO is not installed; {INSTALL_HINT}") from None
    return [sys.executable, "-m", "platformio"]


def run_pio(project_dir: Path, args: list[str], core_dir: Path | None = None, timeout: float = 600.0) -> PioRun:
    """`pio ARGS` in project_dir, output captured; a hang past `timeout` is a BuildError."""
    try:
        proc = subprocess.run([*pio_command(), *args], cwd=project_dir, env=pio_environment(core_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BuildError(f"`pio {' '.join(args)}` in {project_dir} did not finish within {timeout:g} s") from None
    return PioRun(proc.returncode, proc.stdout)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m tinycc_ml.targets.pio_offline CORE_DIR\n"
              "Prepare a PlatformIO core directory that builds and runs tinyc's qemu_* environments offline.")
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        core = prepare_core_dir(Path(args[0]))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"export PLATFORMIO_CORE_DIR={core}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
