"""Lambda functions of a template as local :class:`LambdaFunction` s.

- ``AWS::Serverless::Function``: ``CodeUri`` (a folder, relative to the template) or
  ``InlineCode``, ``Handler``, ``Environment``; SAM's ``Globals.Function`` apply first.
- ``AWS::Lambda::Function``: ``Code.ZipFile`` (inline source, written to a private temp
  folder as the handler's module), or a folder given on the command line
  (``--code-path LogicalId=DIR``) for S3 code, or ``PackageType: Image`` whose
  ``ImageConfig.Command[0]`` is the handler (imported from the current environment unless
  a code path is given: tickwire's own authorizer ships this way).

Only Python runtimes run locally; any other runtime is an :class:`UnsupportedResource`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local.cfn.errors import UnsupportedResource
from infra.local.gateway.model import LambdaFunction

__all__ = ["build_function", "merge_globals"]

# Lambda's defaults when a template gives none (CreateFunction API reference).
DEFAULT_TIMEOUT_S = 3.0
DEFAULT_MEMORY_MB = 128


def merge_globals(properties: Mapping[str, Any], globals_: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals: the function's own value wins; Environment variables are merged."""
    merged = {**globals_, **properties}
    global_env = (globals_.get("Environment") or {}).get("Variables") or {}
    own_env = (properties.get("Environment") or {}).get("Variables") or {}
    if global_env or own_env:
        merged["Environment"] = {"Variables": {**global_env, **own_env}}
    return merged


def build_function(
    logical_id: str,
    resource_type: str,
    properties: Mapping[str, Any],
    *,
    name: str,
    template_dir: Path | None,
    code_path: Path | None,
) -> LambdaFunction:
    """The local function for a resolved Lambda resource."""
    runtime = str(properties.get("Runtime") or "")
    image = properties.get("PackageType") == "Image"
    if not image and runtime and not runtime.startswith("python"):
        raise UnsupportedResource(logical_id, f"runtime {runtime} cannot run locally (Python only)")
    handler = properties.get("Handler")
    if image:
        command = (properties.get("ImageConfig") or {}).get("Command") or []
        if not command:
            raise UnsupportedResource(
                logical_id,
                "an Image function needs ImageConfig.Command (the handler) to run locally",
            )
        handler = command[0]
    if not isinstance(handler, str) or "." not in handler:
        raise UnsupportedResource(logical_id, f"Handler must be 'module.function', got {handler!r}")
    path = code_path
    if path is None and not image:
        path = _code_folder(logical_id, resource_type, properties, handler, template_dir)
    environment = (properties.get("Environment") or {}).get("Variables") or {}
    return LambdaFunction(
        name=name,
        handler=handler,
        code_path=path,
        environment={str(k): _env_text(v) for k, v in environment.items()},
        timeout_s=float(properties.get("Timeout") or DEFAULT_TIMEOUT_S),
        memory_mb=int(properties.get("MemorySize") or DEFAULT_MEMORY_MB),
    )


def _code_folder(
    logical_id: str,
    resource_type: str,
    properties: Mapping[str, Any],
    handler: str,
    template_dir: Path | None,
) -> Path:
    inline = properties.get("InlineCode")
    code = properties.get("Code")
    if isinstance(code, Mapping) and "ZipFile" in code:
        inline = code["ZipFile"]
    if isinstance(inline, str):
        return _write_inline(handler, inline)
    code_uri = properties.get("CodeUri")
    if resource_type == "AWS::Serverless::Function" and isinstance(code_uri, str):
        if code_uri.startswith("s3://"):
            raise UnsupportedResource(
                logical_id,
                f"CodeUri {code_uri} is in S3; give a local folder with --code-path {logical_id}=DIR",
            )
        folder = Path(code_uri)
        if not folder.is_absolute():
            folder = (template_dir or Path.cwd()) / folder
        if not folder.is_dir():
            raise UnsupportedResource(logical_id, f"CodeUri folder {folder} does not exist")
        return folder
    raise UnsupportedResource(
        logical_id, f"its code is not local; give a folder with --code-path {logical_id}=DIR"
    )


def _write_inline(handler: str, source: str) -> Path:
    """Inline code becomes ``<module>.py`` in a private temp folder (Lambda names it
    ``index.py``; the handler's module name is used so any handler works)."""
    module = handler.rsplit(".", 1)[0]
    folder = Path(tempfile.mkdtemp(prefix="tickwire-inline-"))
    target = folder.joinpath(*module.split(".")).with_suffix(".py")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    return folder


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
