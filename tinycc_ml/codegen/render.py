"""Render an EmitContext through the Jinja2 templates in templates/ (StrictUndefined:
a missing value is an error, never an empty string in the C)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from ..resources import templates_dir
from .context import EmitContext


def environment(directory: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory or templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_sources(ctx: EmitContext, directory: Path | None = None) -> dict[str, str]:
    """Relative output path -> file text for the model sources, and (for a model with one input
    and one output, which the harness feeds) the host harness and Makefile."""
    env = environment(directory)
    files = {
        f"src/{ctx.prefix}.h": "model.h.j2",
        f"src/{ctx.prefix}.c": "model.c.j2",
        f"src/{ctx.prefix}_weights.c": "model_weights.c.j2",
        "README.md": "README.md.j2",
    }
    if ctx.single_io:
        files.update({"host/main_host.c": "main_host.c.j2", "Makefile": "Makefile.host.j2"})
    return {path: env.get_template(name).render(ctx=ctx) for path, name in files.items()}
