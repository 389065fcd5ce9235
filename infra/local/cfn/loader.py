"""Loading a CloudFormation template into what the local run needs.

Theory of operation: parameters are checked and defaulted, conditions evaluated, and each
resource whose condition holds is resolved (intrinsics in :mod:`.intrinsics`, names and
attributes in :mod:`.resources`). Then streams, tables and Lambda functions are read off
their resources, and the ApiGatewayV2 resources become :class:`WebSocketApi` models
(:mod:`.apigateway`). Other AWS resources (queues, topics, buckets, state machines...)
become :class:`ServiceResource` s that the embedded AWS creates, and event source mappings
and SAM ``Events`` become :class:`EventSource` s. Types known to be irrelevant to a local
run (IAM, logs, ECS, ...) are listed in ``ignored``; any other type is never a reason to
refuse the template: it is listed in ``unmodelled`` with the resources that refer to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.cfn.apigateway import ApiResources, build_apis
from infra.local.cfn.errors import (
    ParameterError,
    TemplateError,
    UnsupportedIntrinsic,
    UnsupportedResource,
)
from infra.local.cfn.functions import build_function, local_folder, merge_globals, runtime_note
from infra.local.cfn.intrinsics import NO_VALUE, Resolver
from infra.local.cfn.props import Props
from infra.local.cfn.resources import IGNORED_TYPE_PREFIXES, PROVISIONED_TYPES, RUN_TYPES, Naming
from infra.local.cfn.service_resources import (
    EventSource,
    ServiceResource,
    mapping_source,
    references,
    rule_sources,
    sam_event_sources,
)
from infra.local.cfn.yaml_source import parse_template_text, read_template
from infra.local.gateway.model import LambdaFunction, WebSocketApi

__all__ = ["EventSource", "LoadedTemplate", "ServiceResource", "TableSpec", "load_template"]

# An on-demand stream starts with a write capacity of 4 MB/s, i.e. 4 shards
# (Kinesis Data Streams developer guide, "On-demand mode").
ON_DEMAND_SHARDS = 4
LAMBDA_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")
# SAM's transform: only AWS::Serverless::Function (with Globals) is understood locally;
# other AWS::Serverless types are reported as unsupported.
KNOWN_TRANSFORMS = ("AWS::Serverless-2016-10-31",)


@dataclass(frozen=True)
class TableSpec:
    """An ``AWS::DynamoDB::Table``: its name and key schema (attribute -> S/N/B)."""

    logical_id: str
    name: str
    partition_key: str
    sort_key: str | None = None
    attribute_types: dict[str, str] = field(default_factory=dict)
    billing_mode: str = "PROVISIONED"


@dataclass(frozen=True)
class LoadedTemplate:
    """What a template runs locally, plus what it declares that does not run."""

    apis: dict[str, WebSocketApi]
    streams: dict[str, int]  # stream name -> shard count
    tables: dict[str, TableSpec]  # table name -> spec
    functions: dict[str, LambdaFunction]  # logical id -> function
    outputs: dict[str, Any]
    parameters: dict[str, Any]
    ignored: dict[str, str]  # logical id -> resource type, accepted but not run
    notes: tuple[str, ...] = ()
    # non-API resources the embedded AWS creates, by logical id
    resources: dict[str, ServiceResource] = field(default_factory=dict)
    event_sources: tuple[EventSource, ...] = ()
    # resource types nothing here models: logical id -> (type, logical ids referring to it)
    unmodelled: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def api(self) -> WebSocketApi:
        """The template's only WebSocket API (error when it has none or several)."""
        if len(self.apis) != 1:
            raise TemplateError(
                None,
                f"the template has {len(self.apis)} WebSocket APIs ({', '.join(self.apis) or 'none'}); name one",
            )
        return next(iter(self.apis.values()))


def load_template(
    source: Path | str | Mapping[str, Any],
    *,
    parameters: Mapping[str, str] | None = None,
    code_paths: Mapping[str, Path] | None = None,
    stack_name: str = "tickwire-local",
    region: str = "us-east-1",
    account_id: str = "000000000000",
    ignore_unknown: bool = False,
) -> LoadedTemplate:
    """Load a template (a path, YAML/JSON text, or a parsed mapping).

    A ``str`` is template text when it contains a newline or starts with ``{``, else a
    path. ``parameters`` override defaults; ``code_paths`` give a local code folder per
    Lambda logical id. Resource types nothing here models are listed in ``unmodelled``
    with what refers to them (with ``ignore_unknown``, in ``ignored`` instead).
    """
    template_dir: Path | None = None
    if isinstance(source, Mapping):
        document = dict(source)
    elif isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        document = parse_template_text(source)
    else:
        path = Path(source)
        document = read_template(path)
        template_dir = path.resolve().parent
    return _Loader(document, parameters or {}, code_paths or {}, template_dir,
                   Naming(stack_name, region, account_id), ignore_unknown).load()  # fmt: skip


class _Loader:
    def __init__(
        self,
        document: dict[str, Any],
        overrides: Mapping[str, str],
        code_paths: Mapping[str, Path],
        template_dir: Path | None,
        naming: Naming,
        ignore_unknown: bool,
    ) -> None:
        _check_sections(document)
        self.document = document
        self.code_paths = {k: Path(v) for k, v in code_paths.items()}
        self.template_dir = template_dir
        self.naming = naming
        self.ignore_unknown = ignore_unknown
        transforms = document.get("Transform") or []
        for transform in [transforms] if isinstance(transforms, str | dict) else transforms:
            if transform not in KNOWN_TRANSFORMS:
                raise UnsupportedResource(
                    None,
                    f"Transform {transform!r} is not supported locally (only {', '.join(KNOWN_TRANSFORMS)})",
                )
        self.resources: dict[str, dict[str, Any]] = dict(document.get("Resources") or {})
        if not self.resources:
            raise TemplateError(None, "the template has no Resources")
        self.parameters = self._parameters(overrides)
        self.resolver = Resolver(
            parameters=self.parameters,
            pseudo={
                "AWS::Region": naming.region,
                "AWS::AccountId": naming.account_id,
                "AWS::StackName": naming.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{naming.region}:{naming.account_id}:stack/{naming.stack_name}/local",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": naming.url_suffix,
                "AWS::NotificationARNs": [],
            },
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            ref=self._ref,
            get_att=self._get_att,
        )
        self._names: dict[str, str] = {}

    # --- parameters ----------------------------------------------------------------------

    def _parameters(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = dict(self.document.get("Parameters") or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ParameterError(unknown[0], "is not a parameter of the template")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            kind = str(spec.get("Type", "String"))
            if kind.startswith("AWS::SSM::Parameter"):
                if name not in overrides:
                    raise ParameterError(name, f"{kind} reads SSM; pass --parameter {name}=VALUE")
            if name in overrides:
                value: Any = str(overrides[name])
            elif "Default" in spec:
                value = spec["Default"]
                value = value if isinstance(value, list) else str(value)
            else:
                raise ParameterError(name, f"has no Default; pass --parameter {name}=VALUE")
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in {str(v) for v in allowed}:
                raise ParameterError(name, f"{value!r} is not one of {allowed}")
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                value = (
                    value
                    if isinstance(value, list)
                    else [v.strip() for v in str(value).split(",")]
                    if value
                    else []
                )
            values[name] = value
        return values

    # --- references ----------------------------------------------------------------------

    def _resource(self, logical_id: str, where: str) -> dict[str, Any]:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(
                where, f"refers to {logical_id!r}, which is neither a parameter nor a resource"
            )
        if not self._active(logical_id):
            raise TemplateError(where, f"refers to {logical_id!r}, whose condition is false")
        return resource

    def _active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.resolver.condition(condition, logical_id)

    def _name(self, logical_id: str) -> str:
        if logical_id not in self._names:
            resource = self.resources[logical_id]
            prop = Naming.name_property(resource.get("Type", ""))
            raw = (resource.get("Properties") or {}).get(prop) if prop else None
            name = self.resolver.resolve(raw, logical_id) if raw is not None else NO_VALUE
            if name is NO_VALUE or name is None:
                kind = str(resource.get("Type", ""))
                fifo = (
                    kind == "AWS::SQS::Queue"
                    and str((resource.get("Properties") or {}).get("FifoQueue", "")).lower()
                    == "true"
                )
                self._names[logical_id] = self.naming.default_name(logical_id, kind, fifo=fifo)
            elif isinstance(name, str | int) and not isinstance(name, bool) and str(name):
                self._names[logical_id] = str(name)
            else:
                raise TemplateError(logical_id, f"{prop} must be a non-empty string, got {name!r}")
        return self._names[logical_id]

    def _ref(self, logical_id: str, where: str) -> Any:
        resource = self._resource(logical_id, where)
        return self.naming.ref(logical_id, resource.get("Type", ""), self._name(logical_id))

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        resource = self._resource(logical_id, where)
        return self.naming.attribute(
            logical_id, resource.get("Type", ""), self._name(logical_id), attribute
        )

    # --- loading -------------------------------------------------------------------------

    def load(self) -> LoadedTemplate:
        resolved: dict[str, dict[str, dict[str, Any]]] = {}
        ignored: dict[str, str] = {}
        unmodelled: dict[str, str] = {}
        globals_ = ((self.document.get("Globals") or {}).get("Function")) or {}
        for logical_id, resource in self.resources.items():
            kind = resource.get("Type")
            if not isinstance(kind, str):
                raise TemplateError(logical_id, "has no Type")
            if not self._active(logical_id):
                continue
            if kind not in RUN_TYPES and kind not in PROVISIONED_TYPES:
                if kind.startswith(IGNORED_TYPE_PREFIXES) or self.ignore_unknown:
                    ignored[logical_id] = kind
                else:
                    unmodelled[logical_id] = kind
                continue
            properties = resource.get("Properties") or {}
            if kind == "AWS::Serverless::Function":
                properties = merge_globals(properties, globals_)
            resolved_properties = self.resolver.resolve(properties, logical_id)
            _refuse_dynamic_references(logical_id, resolved_properties)
            resolved.setdefault(kind, {})[logical_id] = resolved_properties
        notes: list[str] = []
        layers = self._layers(resolved)
        functions = {
            logical_id: build_function(
                kind,
                Props(logical_id, props),
                name=self._name(logical_id),
                template_dir=self.template_dir,
                code_path=self.code_paths.get(logical_id),
                layers=self._function_layers(logical_id, Props(logical_id, props), layers, notes),
            )
            for kind in LAMBDA_TYPES
            for logical_id, props in resolved.get(kind, {}).items()
        }
        for logical_id, function in functions.items():
            note = runtime_note(logical_id, function.runtime)
            if function.unavailable:
                notes.append(
                    f"{logical_id}: {function.unavailable}; its routes answer as a failing function"
                )
            elif note:
                notes.append(note)
            if Props(
                logical_id, resolved.get("AWS::Serverless::Function", {}).get(logical_id, {})
            ).raw("Architectures"):
                notes.append(
                    f"{logical_id}: Architectures is not emulated (runs on this machine's)"
                )
        layer_ids = {lid for kind in ("AWS::Lambda::LayerVersion", "AWS::Serverless::LayerVersion")
                     for lid in resolved.get(kind, {})}  # fmt: skip
        unknown_paths = sorted(set(self.code_paths) - set(functions) - layer_ids)
        if unknown_paths:
            raise TemplateError(
                unknown_paths[0], "--code-path names no Lambda function or layer of the template"
            )
        api_resources = ApiResources(
            refs={lid: self._ref(lid, lid) for kinds in resolved.values() for lid in kinds},
            functions={f.name: f for f in functions.values()},
            region=self.naming.region,
            account_id=self.naming.account_id,
            by_type=resolved,
        )
        apis = build_apis(api_resources)
        service_resources = {
            lid: ServiceResource(
                lid,
                kind,
                self._name(lid),
                self._ref(lid, lid),
                self.naming.arn(lid, kind, self._name(lid)),
                props,
            )
            for kind, by_id in resolved.items()
            if kind in PROVISIONED_TYPES
            for lid, props in by_id.items()
        }
        event_sources = self._event_sources(resolved, functions, notes)
        outputs = {
            name: self.resolver.resolve(spec.get("Value"), f"Outputs.{name}")
            for name, spec in (self.document.get("Outputs") or {}).items()
            if spec.get("Condition") is None or self.resolver.condition(spec["Condition"], name)
        }
        return LoadedTemplate(
            apis=apis,
            streams={
                self._name(lid): _shards(Props(lid, p))
                for lid, p in resolved.get("AWS::Kinesis::Stream", {}).items()
            },
            tables={
                t.name: t
                for t in (
                    _table(self._name(lid), Props(lid, p))
                    for lid, p in resolved.get("AWS::DynamoDB::Table", {}).items()
                )
            },
            functions=functions,
            outputs=outputs,
            parameters=dict(self.parameters),
            ignored=ignored,
            notes=tuple(api_resources.notes + notes),
            resources=service_resources,
            event_sources=tuple(event_sources),
            unmodelled=self._affected(unmodelled),
        )

    def _affected(self, unmodelled: Mapping[str, str]) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each unmodelled resource with the logical ids of the resources naming it."""
        return {
            lid: (
                kind,
                tuple(
                    sorted(
                        other
                        for other, resource in self.resources.items()
                        if other != lid and lid in references(resource)
                    )
                ),
            )
            for lid, kind in unmodelled.items()
        }

    def _layers(
        self, resolved: Mapping[str, Mapping[str, dict[str, Any]]]
    ) -> dict[str, Path | None]:
        """Layer version ARN -> local folder (None when its content is not local)."""
        found: dict[str, Path | None] = {}
        for kind, uri_key in (("AWS::Serverless::LayerVersion", "ContentUri"),
                              ("AWS::Lambda::LayerVersion", "Content")):  # fmt: skip
            for lid, props in resolved.get(kind, {}).items():
                uri = props.get(uri_key)
                arn = self.naming.arn(lid, kind, self._name(lid))
                found[arn] = (
                    local_folder(lid, uri, self.template_dir, uri_key)
                    if isinstance(uri, str) else self.code_paths.get(lid)
                )  # fmt: skip
        return found

    def _function_layers(
        self, logical_id: str, props: Props, layers: Mapping[str, Path | None], notes: list[str]
    ) -> tuple[Path, ...]:
        paths: list[Path] = []
        for arn in props.strings("Layers"):
            folder = layers.get(arn)
            if folder is None:
                notes.append(f"{logical_id}: layer {arn} is not a local folder; not on its path")
            else:
                paths.append(folder)
        return tuple(paths)

    def _event_sources(
        self,
        resolved: Mapping[str, Mapping[str, dict[str, Any]]],
        functions: Mapping[str, LambdaFunction],
        notes: list[str],
    ) -> list[EventSource]:
        by_name = {f.name: lid for lid, f in functions.items()}
        sources = [
            mapping_source(lid, Props(lid, props), by_name)
            for lid, props in resolved.get("AWS::Lambda::EventSourceMapping", {}).items()
        ]
        for lid, props in resolved.get("AWS::Serverless::Function", {}).items():
            declared, event_notes = sam_event_sources(lid, Props(lid, props))
            sources += declared
            notes += event_notes
        for lid, props in resolved.get("AWS::Events::Rule", {}).items():
            sources += rule_sources(lid, self._name(lid), Props(lid, props), by_name)
        for lid, props in resolved.get("AWS::SNS::Subscription", {}).items():
            if props.get("Protocol") == "lambda":  # SNS invokes the function: run it here
                target = str(props.get("Endpoint", "")).split(":function:")[-1].split(":")[0]
                sources.append(EventSource(lid, by_name.get(target, ""), "sns",
                                           source_arn=str(props.get("TopicArn", ""))))  # fmt: skip
        for source in sources:
            if not source.function or source.kind == "unsupported":
                notes.append(f"{source.logical_id}: event source {source.source_arn or '?'} "
                             "does not run locally (unknown function or source)")  # fmt: skip
        return [s for s in sources if s.function and s.kind != "unsupported"]


_SECTIONS_OF_MAPPINGS = ("Resources", "Parameters", "Outputs")
_MAPPING_SECTIONS = ("Conditions", "Mappings", "Globals")


def _check_sections(document: Mapping[str, Any]) -> None:
    """The template's sections have the shapes CloudFormation requires."""
    for section in _SECTIONS_OF_MAPPINGS + _MAPPING_SECTIONS:
        value = document.get(section)
        if value is not None and not isinstance(value, Mapping):
            raise TemplateError(section, "must be a mapping")
    for section in _SECTIONS_OF_MAPPINGS:
        for name, entry in (document.get(section) or {}).items():
            if not isinstance(entry, Mapping):
                raise TemplateError(str(name), f"({section}) must be a mapping")
    for name, resource in (document.get("Resources") or {}).items():
        properties = resource.get("Properties")
        if properties is not None and not isinstance(properties, Mapping):
            raise TemplateError(str(name), "Properties must be a mapping")


def _refuse_dynamic_references(logical_id: str, value: Any) -> None:
    """``{{resolve:ssm:...}}``/``{{resolve:secretsmanager:...}}`` are resolved by
    CloudFormation during a deployment; locally there is nothing to read them from."""
    if isinstance(value, str) and "{{resolve:" in value:
        raise UnsupportedIntrinsic(
            logical_id,
            f"dynamic reference {value!r} cannot be resolved locally; "
            "pass the value through a parameter instead",
        )
    if isinstance(value, dict):
        for item in value.values():
            _refuse_dynamic_references(logical_id, item)
    elif isinstance(value, list):
        for item in value:
            _refuse_dynamic_references(logical_id, item)


def _shards(props: Props) -> int:
    if props.mapping("StreamModeDetails").string("StreamMode") == "ON_DEMAND":
        return ON_DEMAND_SHARDS
    count = props.integer("ShardCount", 1)
    if count < 1:
        raise TemplateError(props.logical_id, f"ShardCount {count} must be at least 1")
    return count


def _table(name: str, props: Props) -> TableSpec:
    keys = {k.string("KeyType"): k.string("AttributeName") for k in props.mappings("KeySchema")}
    partition_key = keys.get("HASH")
    if partition_key is None:
        raise TemplateError(props.logical_id, "KeySchema has no HASH key")
    return TableSpec(
        logical_id=props.logical_id,
        name=name,
        partition_key=partition_key,
        sort_key=keys.get("RANGE"),
        attribute_types={
            a.require("AttributeName"): a.require("AttributeType")
            for a in props.mappings("AttributeDefinitions")
        },
        billing_mode=props.text("BillingMode", "PROVISIONED"),
    )
