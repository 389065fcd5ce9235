"""API Gateway request templates (Velocity/VTL), rendered with API Gateway's semantics.

A request template is compiled once (:func:`compile_request_template`, cached by source)
and rendered per message with ``$context``, ``$input``, ``$util`` and ``$stageVariables``:

- a missing reference renders as "" (API Gateway), not as its source text;
- booleans, maps, lists and doubles print as Java does (``true``, ``{a=1}``, ``1.0E20``);
- ``#if`` follows Velocity 1.7: only null and false are false.

Parsing is airspeed-ext's (LocalStack's fork of airspeed made for AWS templates: silent
missing references, ``""`` inside strings, Java string methods such as ``replaceAll``);
upstream airspeed prints missing references verbatim, prints ``True`` and has neither.
Rendering is a tree of Python closures built from the parse tree
(:mod:`infra.local.vtl.compiler`), about 10x faster than airspeed's interpreter; templates
using constructs the compiler does not know fall back to the interpreter.

Errors: see :mod:`infra.local.vtl.errors` (``VtlError`` > ``TemplateSyntaxError``,
``TemplateRenderError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import airspeed
from airspeed import operators as _ops

from infra.internals import require_airspeed_operators
from infra.local.vtl.compiler import Unsupported, Writer, compile_template
from infra.local.vtl.errors import TemplateRenderError, TemplateSyntaxError, VtlError
from infra.local.vtl.runtime import UTIL, Input, JavaMap, escape_javascript, java_str, to_java
from infra.local.vtl.semantics import apply_velocity_truthiness

require_airspeed_operators(__name__)  # the names the compiler and the patches use

__all__ = [
    "RequestTemplate",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "VtlError",
    "compile_request_template",
    "escape_javascript",
    "java_str",
    "render_request_template",
]

# How many distinct template sources stay compiled (one per integration in practice).
TEMPLATE_CACHE_SIZE = 512

apply_velocity_truthiness()


class RequestTemplate:
    """One compiled request template; :meth:`render` is safe to call concurrently."""

    __slots__ = ("_interpreter", "_writer", "compiled", "context_fields", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._interpreter = airspeed.Template(source)
        try:
            self._interpreter.ensure_compiled()
        except airspeed.TemplateSyntaxError as exc:
            raise TemplateSyntaxError(f"request template does not parse: {exc}") from exc
        self._writer: Writer | None
        #: The ``$context`` fields a render reads (``requestTimeEpoch``, ``authorizer``,
        #: ...); None when it may read any (interpreted, or ``$context`` used as a whole).
        self.context_fields: frozenset[str] | None
        try:
            self._writer, self.context_fields = compile_template(self._interpreter.root_element)
        except Unsupported:
            self._writer, self.context_fields = None, None
        #: True when renders use the compiled closures, False for the interpreter.
        self.compiled = self._writer is not None

    def render(
        self,
        *,
        context: Mapping[str, Any],
        body: str,
        stage_variables: Mapping[str, str],
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> str:
        """Render for one message: ``context`` is ``$context`` as a nested mapping (with
        ``authorizer`` = {principalId, **authorizer context}), ``body`` the raw client text,
        ``request_params`` the ``header``/``querystring`` maps ``$input.params`` reads."""
        if self._writer is not None:
            # The compiled form reads the caller's mappings as they are (no copy): it
            # prints plain dicts, lists and floats the Java way itself.
            namespace = {"context": context, "input": Input(body, request_params), "util": UTIL,
                         "stageVariables": stage_variables}  # fmt: skip
            out: list[str] = []
            try:
                self._writer(namespace, out)
            except VtlError:
                raise
            except Exception as exc:
                raise TemplateRenderError(f"request template failed: {exc!r}") from exc
            return "".join(out)
        return self.interpret(
            context=context,
            body=body,
            stage_variables=stage_variables,
            request_params=request_params,
        )

    def interpret(
        self,
        *,
        context: Mapping[str, Any],
        body: str,
        stage_variables: Mapping[str, str],
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> str:
        """Render with airspeed's interpreter (the reference the compiled form is checked
        against, and the fallback for constructs the compiler does not know)."""
        namespace = _namespace(context, body, stage_variables, request_params)
        try:
            return str(self._interpreter.merge(namespace))
        except _ops.TemplateExecutionError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, VtlError):
                raise cause from exc
            raise TemplateRenderError(f"request template failed: {exc}") from exc


def _namespace(
    context: Mapping[str, Any],
    body: str,
    stage_variables: Mapping[str, str],
    request_params: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "context": to_java(context),
        "input": Input(body, request_params),
        "util": UTIL,
        "stageVariables": JavaMap(stage_variables),
    }


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def compile_request_template(source: str) -> RequestTemplate:
    """The compiled template for ``source`` (cached; raises ``TemplateSyntaxError``)."""
    return RequestTemplate(source)


def render_request_template(
    source: str,
    *,
    context: Mapping[str, Any],
    body: str,
    stage_variables: Mapping[str, str],
) -> str:
    """Render ``source`` for one message (compiles once per distinct source)."""
    return compile_request_template(source).render(
        context=context, body=body, stage_variables=stage_variables
    )
