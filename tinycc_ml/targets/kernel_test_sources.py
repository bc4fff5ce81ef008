"""The C test support generated from the kernel variant records: the driver's dispatch of
every variant and the sizeof list of every parameter struct (templates/test/), so a new
variant is reachable from the kernel tests without writing C by hand.

The file is written into the build cache under a name derived from its content, so
build_runtime's key changes exactly when a record does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..codegen.render import environment
from ..kernels.registry import VARIANTS
from ..resources import runtime_dir

TEMPLATE = "test/tinyc_test_variants.c.j2"


def variants_source_text() -> str:
    struct_types = list(dict.fromkeys(t for v in VARIANTS for t in (v.params_type, *v.nested_types)))
    return environment().get_template(TEMPLATE).render(variants=VARIANTS, struct_types=struct_types)


def generated_variants_source(cache_dir: Path) -> Path:
    text = variants_source_text()
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"tinyc_test_variants_{digest}.c"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        # one temporary per process: pytest-xdist workers that start together each write their
        # own and rename it into place (the same content, so whichever lands last is right)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def kernel_test_sources(cache_dir: Path, *, driver: bool) -> list[Path]:
    """The test support sources to build next to the runtime: the generated variant table,
    the fixed-point wrappers, and (driver=True) the sanitized driver's main."""
    fixed = [runtime_dir() / "test" / "tinyc_test_support.c"]
    if driver:
        fixed.insert(0, runtime_dir() / "test" / "tinyc_kernel_driver.c")
    return [*fixed, generated_variants_source(cache_dir)]
