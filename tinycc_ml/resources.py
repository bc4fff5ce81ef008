"""Where the non-Python parts of tinyc live (templates/, runtime_c/, boards/).

They sit at the top of the repository, next to the package, so an editable install
(`pip install -e .`) finds them; TINYC_HOME overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TinycError


def project_root() -> Path:
    override = os.environ.get("TINYC_HOME")
    root = Path(override) if override else Path(__file__).resolve().parent.parent
    if not (root / "runtime_c").is_dir() or not (root / "templates").is_dir():
        raise TinycError(
            f"tinyc's runtime_c/ and templates/ were not found under {root}; "
            "install tinyc with `pip install -e .` from a checkout, or set TINYC_HOME to the checkout"
        )
    return root


def templates_dir() -> Path:
    return project_root() / "templates"


def runtime_dir() -> Path:
    return project_root() / "runtime_c"


def boards_dir() -> Path:
    return project_root() / "boards"
