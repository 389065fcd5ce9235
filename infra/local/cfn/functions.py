"""Lambda functions of a template as local :class:`LambdaFunction` s.

- ``AWS::Serverless::Function``: ``CodeUri`` (a folder, relative to the template) or
  ``InlineCode``, ``Handler``, ``Environment``; SAM's ``Globals.Function`` apply first.
- ``AWS::Lambda::Function``: ``Code.ZipFile`` (inline source, written to a private temp
  folder as the handler's module), or a folder given on the command line
  (``--code-path LogicalId=DIR``) for S3 code, or ``PackageType: Image`` whose
  ``ImageConfig.Command[0]`` is the handler (imported from the current environment unless
  a code path is given: tickwire's own authorizer ships this way).

Python runtimes run on this interpreter, Node.js runtimes (``nodejs18.x`` to
``nodejs24.x``) on the ``node`` found on PATH; a function whose runtime cannot run here is
still loaded, with ``unavailable`` saying why (its routes answer as a failing function
would; the template's other routes run).
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local.cfn.errors import UnsupportedResource
from infra.local.cfn.props import Props
from infra.local.gateway.model import LambdaFunction

__all__ = ["build_function", "local_folder", "merge_globals", "runtime_note"]

_NODE = re.compile(r"^nodejs(\d+)\.x$")
_PYTHON = re.compile(r"^python(\d+)\.(\d+)$")

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
    layers: tuple[Path, ...] = (),
) -> LambdaFunction:
    """The local function for a resolved Lambda resource."""
    logical_id = props.logical_id
    runtime = props.text("Runtime", "")
    image = props.string("PackageType") == "Image"
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
        path = _code_folder(resource_type, props, handler, template_dir, runtime)
    return LambdaFunction(
        name=name,
        handler=handler,
        code_path=path,
        environment=props.mapping("Environment").string_map("Variables"),
        timeout_s=float(props.integer("Timeout", DEFAULT_TIMEOUT_S)),
        memory_mb=props.integer("MemorySize", DEFAULT_MEMORY_MB),
        runtime=runtime,
        layers=tuple(layers),
        unavailable=None if image else _unavailable(runtime),
    )


def _unavailable(runtime: str) -> str | None:
    """Why a runtime cannot run here (None: it can)."""
    if not runtime or _PYTHON.match(runtime):
        return None
    if _NODE.match(runtime):
        if shutil.which("node") is None:
            return f"runtime {runtime} needs Node.js: no `node` on PATH (apt-get install nodejs)"
        return None
    return f"runtime {runtime} cannot run locally (Python and Node.js only)"


def runtime_note(name: str, runtime: str) -> str | None:
    """A warning when the local interpreter is not the version the runtime names."""
    python = _PYTHON.match(runtime)
    if python is not None:
        wanted = (int(python.group(1)), int(python.group(2)))
        if wanted != sys.version_info[:2]:
            here = f"{sys.version_info[0]}.{sys.version_info[1]}"
            return f"{name}: runtime {runtime} runs on the local Python {here}"
    node = _NODE.match(runtime)
    if node is not None:
        here_major = _local_node_major()
        if here_major is not None and here_major != int(node.group(1)):
            return f"{name}: runtime {runtime} runs on the local Node.js {here_major}"
    return None


@functools.lru_cache(maxsize=1)
def _local_node_major() -> int | None:
    """The major version of the ``node`` on PATH (None without one)."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout  # "v20.20.2"
        return int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _code_folder(
    resource_type: str, props: Props, handler: str, template_dir: Path | None, runtime: str
) -> Path:
    logical_id = props.logical_id
    inline = props.string("InlineCode")
    code = props.mapping("Code")
    if "ZipFile" in code:
        inline = code.string("ZipFile")
    if inline is not None:
        return _write_inline(handler, inline, ".js" if _NODE.match(runtime) else ".py")
    code_uri = props.raw("CodeUri")
    if resource_type == "AWS::Serverless::Function" and isinstance(code_uri, str):
        return local_folder(logical_id, code_uri, template_dir, "CodeUri")
    raise UnsupportedResource(
        logical_id, f"its code is not local; give a folder with --code-path {logical_id}=DIR"
    )


def local_folder(logical_id: str, uri: str, template_dir: Path | None, what: str) -> Path:
    """A SAM ``CodeUri``/``ContentUri`` folder, relative to the template."""
    if uri.startswith("s3://"):
        raise UnsupportedResource(
            logical_id,
            f"{what} {uri} is in S3; give a local folder with --code-path {logical_id}=DIR",
        )
    folder = Path(uri)
    if not folder.is_absolute():
        folder = (template_dir or Path.cwd()) / folder
    if not folder.is_dir():
        raise UnsupportedResource(logical_id, f"{what} folder {folder} does not exist")
    return folder


def _write_inline(handler: str, source: str, suffix: str) -> Path:
    """Inline code becomes ``<module>.py`` (``.js`` for Node.js) in a private temp folder
    (Lambda names it ``index.py``; the handler's module name is used so any handler works)."""
    module = handler.rsplit(".", 1)[0]
    folder = Path(tempfile.mkdtemp(prefix="tickwire-inline-"))
    # removed when this process exits (the gateway's Lambda workers exit before it)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder.joinpath(*module.split(".")).with_suffix(suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    return folder
