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

import atexit
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local.cfn.errors import UnsupportedResource
from infra.local.cfn.props import Props
from infra.local.gateway.model import LambdaFunction

__all__ = ["build_function", "merge_globals"]

# Lambda's defaults when a template gives none (CreateFunction API reference).
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128


def merge_globals(properties: Mapping[str, Any], globals_: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals: the function's own value wins; Environment variables are merged."""
    merged = {**globals_, **properties}
    variables: dict[str, Any] = {}
    for source in (globals_, properties):
        environment = source.get("Environment")
        if isinstance(environment, Mapping) and isinstance(environment.get("Variables"), Mapping):
            variables.update(environment["Variables"])
    if variables:
        merged["Environment"] = {"Variables": variables}
    return merged


def build_function(
    resource_type: str,
    props: Props,
    *,
    name: str,
    template_dir: Path | None,
    code_path: Path | None,
) -> LambdaFunction:
    """The local function for a resolved Lambda resource."""
    logical_id = props.logical_id
    runtime = props.text("Runtime", "")
    image = props.string("PackageType") == "Image"
    if not image and runtime and not runtime.startswith("python"):
        raise UnsupportedResource(logical_id, f"runtime {runtime} cannot run locally (Python only)")
    handler = props.string("Handler")
    if image:
        command = props.mapping("ImageConfig").strings("Command")
        if not command:
            raise UnsupportedResource(
                logical_id,
                "an Image function needs ImageConfig.Command (the handler) to run locally",
            )
        handler = command[0]
    if handler is None or "." not in handler:
        raise UnsupportedResource(logical_id, f"Handler must be 'module.function', got {handler!r}")
    path = code_path
    if path is None and not image:
        path = _code_folder(resource_type, props, handler, template_dir)
    return LambdaFunction(
        name=name,
        handler=handler,
        code_path=path,
        environment=props.mapping("Environment").string_map("Variables"),
        timeout_s=float(props.integer("Timeout", DEFAULT_TIMEOUT_S)),
        memory_mb=props.integer("MemorySize", DEFAULT_MEMORY_MB),
    )


def _code_folder(resource_type: str, props: Props, handler: str, template_dir: Path | None) -> Path:
    logical_id = props.logical_id
    inline = props.string("InlineCode")
    code = props.mapping("Code")
    if "ZipFile" in code:
        inline = code.string("ZipFile")
    if inline is not None:
        return _write_inline(handler, inline)
    code_uri = props.raw("CodeUri")
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
    # removed when this process exits (the gateway's Lambda workers exit before it)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder.joinpath(*module.split(".")).with_suffix(".py")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    return folder
