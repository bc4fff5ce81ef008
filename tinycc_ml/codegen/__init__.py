"""Code generation: Program -> plain-data EmitContext -> C files through Jinja2 templates."""

from .context import EmitContext, build_context
from .render import render_sources

__all__ = ["EmitContext", "build_context", "render_sources"]
