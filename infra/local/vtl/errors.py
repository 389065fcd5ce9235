"""Errors of the VTL renderer.

::

    VtlError
    ├── TemplateSyntaxError   the template does not parse (raised when it is compiled)
    └── TemplateRenderError   rendering failed (bad JSON body for $input.json, a util
                              function given the wrong type, ...); the gateway answers
                              "Internal server error" as API Gateway does
"""

from __future__ import annotations

__all__ = ["TemplateRenderError", "TemplateSyntaxError", "VtlError"]


class VtlError(Exception):
    """Root of the VTL renderer's errors; ``reason`` says what went wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemplateSyntaxError(VtlError):
    """The template source is not valid Velocity."""


class TemplateRenderError(VtlError):
    """The template parsed but could not be rendered with this input."""
