"""Calling a route's integration: Lambda proxy, HTTP proxy, MOCK and AWS service.

Each call answers an :class:`IntegrationResult` (status, headers, body) or raises
:class:`~infra.local.gateway.errors.IntegrationError` whose status is what a $connect
handshake fails with: 502 for a Lambda error or timeout (observed on AWS), 500 for an AWS
service answering non-2xx or raising, 504 when the integration timeout passes. Message
routes turn any IntegrationError into the "Internal server error" frame.

Request templates (AWS, MOCK, HTTP) are rendered with :mod:`infra.local.vtl`; the template
is chosen by the integration's ``TemplateSelectionExpression`` (usually ``\\$default``),
falling back to the ``$default`` then the ``application/json`` key; with none, the raw
body passes through (``PassthroughBehavior`` WHEN_NO_MATCH / WHEN_NO_TEMPLATES), or the
call fails when it is NEVER.

An AWS integration's ``RequestParameters`` map headers and query-string values onto the
service request (``integration.request.header.Content-Type: "'application/x-amz-json-1.0'"``,
``integration.request.querystring.TopicArn: route.request.body.topic``); sources are a
quoted literal, ``route.request.body.*`` (a JSON member of the message),
``route.request.header.*``/``querystring.*`` (the upgrade request, on ``$connect``),
``context.*`` and ``stageVariables.*``. Those, and ``path/`` URIs, need a backend that takes
whole requests (:class:`~.services.AwsRequestBackend`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import aiohttp

from infra.json_read import loads

from .errors import (
    ConfigurationError,
    FunctionError,
    FunctionTimeout,
    IntegrationError,
    LambdaError,
)
from .lambdas import LambdaRuntime
from .model import Integration
from .routing import compile_selection_expression
from .services import (
    AwsRequestBackend,
    AwsServiceBackend,
    ImmediateBackend,
    RecordingService,
    ServiceRequest,
    parse_integration_uri,
)
from .stage_variables import substitute_stage_variables

__all__ = ["IntegrationResult", "Integrations"]


@dataclass(frozen=True, slots=True)
class IntegrationResult:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


_OK = IntegrationResult()
# How often AWS-integration deadlines are checked: a timeout fires within this much of
# its due time (integration timeouts are 50 ms to 29 s).
DEADLINE_CHECK_S = 0.05


class _Prepared:
    """Per-integration work done once: template compilation, URI parsing."""

    __slots__ = (
        "action",
        "backend",
        "context_fields",
        "fixed_template",
        "literal_key",
        "parameters",
        "response_template",
        "selector",
        "target",
        "templates",
        "timeout_s",
        "whole",
    )

    def __init__(
        self,
        integration: Integration,
        services: Mapping[str, AwsServiceBackend],
        recorder: RecordingService,
        default_timeout_s: float,
    ) -> None:
        from infra.local.vtl import compile_request_template

        self.templates = {
            key: compile_request_template(src) for key, src in integration.request_templates.items()
        }
        expr = integration.template_selection_expression
        self.selector = compile_selection_expression(expr) if expr else None
        self.literal_key: str | None = None
        if self.selector is not None and self.selector.literal:
            self.literal_key = "".join(str(p) for p in self.selector.parts)
        rt = integration.response_templates.get("$default") or integration.response_templates.get(
            "application/json"
        )
        self.response_template = compile_request_template(rt) if rt else None
        # the template when the choice never depends on the body (else None: template_for)
        self.fixed_template: Any = None
        if self.selector is None or self.literal_key is not None:
            self.fixed_template = self.template_for("")
        # the $context fields any of its templates reads (None: any)
        self.context_fields: frozenset[str] | None = frozenset()
        for template in [*self.templates.values(), self.response_template]:
            if template is not None and self.context_fields is not None:
                fields = template.context_fields
                self.context_fields = None if fields is None else self.context_fields | fields
        self.backend: AwsServiceBackend | None = None
        self.action = ""
        self.timeout_s = min(default_timeout_s, integration.timeout_ms / 1000)
        self.parameters = _parameter_map(integration.request_parameters)
        if any(source[0] == "context" for _, _, source in self.parameters):
            self.context_fields = None  # a mapped context.* value may be any field
        # True: the backend gets a ServiceRequest (path URI, mapped headers or query)
        self.whole = False
        self.target = None
        if integration.integration_type == "AWS":
            if not integration.uri:
                raise ConfigurationError("AWS integration without IntegrationUri")
            self.target = parse_integration_uri(integration.uri)
            service = self.target.service
            self.action = self.target.action or ""
            # without a backend for the service, the recorder keeps what it was sent
            self.backend = services.get(service) or recorder
            whole_backend = isinstance(self.backend, AwsRequestBackend)
            if self.target.path is not None and not whole_backend:
                raise ConfigurationError(
                    f"{integration.uri}: the {service} backend takes only action/ URIs"
                )
            # a backend that takes only (action, body) gets no mapped parameters (the
            # embedded Kinesis: its requests carry everything in the body)
            self.whole = whole_backend and bool(
                self.target.path is not None or self.parameters or self.target.query
            )

    def template_for(self, body: str) -> Any:
        if not self.templates:
            return None
        key = "$default"
        selector = self.selector
        if selector is not None:
            if self.literal_key is not None:  # e.g. "\$default": the body is not parsed
                key = self.literal_key
            else:
                try:
                    parsed = loads(body)
                except (ValueError, RecursionError):
                    parsed = None
                key = selector.evaluate(parsed) or "$default"
        return (
            self.templates.get(key)
            or self.templates.get("$default")
            or self.templates.get("application/json")
        )


class Integrations:
    """Calls integrations for one gateway. ``stop()`` closes the HTTP client session."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        services: Mapping[str, AwsServiceBackend],
        *,
        default_timeout_s: float,
        stage_variables: Mapping[str, str],
    ) -> None:
        self.runtime = runtime
        # kept as given: a lazy mapping (infra.local.aws.WireServices) makes backends on use
        self.services = services
        self.recorder = RecordingService()
        self.default_timeout_s = default_timeout_s
        self.stage_variables = dict(stage_variables)
        self._prepared: dict[int, _Prepared] = {}
        self._session: aiohttp.ClientSession | None = None
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def prepare(self, integration: Integration) -> _Prepared:
        prepared = self._prepared.get(id(integration))
        if prepared is None:
            key = id(integration)
            if integration.uri:  # ${stageVariables.x} in the URI: the stage's value
                uri = substitute_stage_variables(integration.uri, self.stage_variables)
                integration = replace(integration, uri=uri)
            prepared = _Prepared(integration, self.services, self.recorder, self.default_timeout_s)
            self._prepared[key] = prepared
        return prepared

    def context_fields(self, integration: Integration) -> frozenset[str] | None:
        """The ``$context`` fields the integration's templates read (None: any)."""
        try:
            return self.prepare(integration).context_fields
        except ConfigurationError:
            return None  # (the call itself fails, with the "Internal server error" frame)

    def timeout_for(self, integration: Integration) -> float:
        return min(self.default_timeout_s, integration.timeout_ms / 1000)

    async def call(
        self,
        integration: Integration,
        *,
        event: Mapping[str, Any],
        template_context: Mapping[str, Any],
        body: str,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IntegrationResult:
        """Run ``integration`` for one event (``body`` is the client's raw text or "";
        ``request_params`` the ``header``/``querystring`` maps of a ``$connect``)."""
        kind = integration.integration_type
        if kind == "AWS":
            if request_params is not None:  # $connect: once per connection, the plain way
                limit_s = self.prepare(integration).timeout_s
                try:
                    async with asyncio.timeout(limit_s):
                        return await self._aws(integration, template_context, body, request_params)
                except TimeoutError:
                    raise IntegrationError(
                        504, f"integration timed out after {limit_s:g} s"
                    ) from None
            return await self.call_aws(integration, template_context, body)
        timeout = self.timeout_for(integration)
        try:
            if kind == "AWS_PROXY":
                # Bounds the wait for a free worker too (a busy function's queue).
                async with asyncio.timeout(timeout):
                    return await self._lambda(integration, event, timeout)
            if kind == "MOCK":
                return self._mock(integration, template_context, body, request_params)
            if kind in ("HTTP_PROXY", "HTTP"):
                async with asyncio.timeout(timeout):
                    return await self._http(integration, template_context, body, request_params)
        except TimeoutError:
            raise IntegrationError(504, f"integration timed out after {timeout:g} s") from None
        raise ConfigurationError(f"unsupported integration type {kind!r}")

    async def call_aws(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        *,
        want_body: bool = True,
        task: asyncio.Task[Any] | None = None,
    ) -> IntegrationResult:
        """An AWS service integration (the per-message hot path: one coroutine, no task or
        timer per call): render the request template, call the service under the
        integration timeout, answer its response.

        Deadline policy: the calling task is registered with its deadline; a watchdog
        checks every ``DEADLINE_CHECK_S`` and cancels a task past its deadline, which
        surfaces as IntegrationError(504). Only the calling connection's task waits for a
        slow service: other connections read and route on their own tasks meanwhile.
        ``want_body=False`` (a one-way route) skips decoding an answer nobody reads;
        ``task`` is the calling task when the caller knows it (saves looking it up).
        ``asyncio.timeout`` would cost a timer per call (~5 us), ``wait_for`` a task."""
        prepared = self._prepared.get(id(integration)) or self.prepare(integration)
        limit_s = prepared.timeout_s
        if task is None:
            task = asyncio.current_task()
        deadlines = self._deadlines
        if task is None or task in deadlines:  # nested or outside a task: the plain way
            try:
                async with asyncio.timeout(limit_s):
                    return await self._aws(integration, context, body)
            except TimeoutError:
                raise IntegrationError(504, f"integration timed out after {limit_s:g} s") from None
        request = self._request(integration, context, body, prepared)
        backend = prepared.backend
        assert backend is not None
        deadlines[task] = time.monotonic() + limit_s
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        try:
            if prepared.whole:
                status, answer = await self._whole(prepared, integration, context, body, request)
            else:
                status, answer = await backend.call(prepared.action, request)
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                task.uncancel()
                raise IntegrationError(504, f"integration timed out after {limit_s:g} s") from None
            raise
        except Exception as exc:
            raise IntegrationError(500, f"{prepared.action} failed: {exc!r}") from exc
        finally:
            del deadlines[task]
            self._expired.discard(task)
        return self._answer(prepared, context, status, answer, want_body)

    def immediate(self, integration: Integration) -> bool:
        """Can :meth:`call_aws_now` run ``integration``: an AWS integration whose backend
        is in this process and answers its action without waiting, with nothing mapped
        onto a whole request?"""
        if integration.integration_type != "AWS":
            return False
        try:
            prepared = self.prepare(integration)
        except ConfigurationError:
            return False  # (its calls fail, with the "Internal server error" frame)
        backend = prepared.backend
        return (
            not prepared.whole
            and isinstance(backend, ImmediateBackend)
            and backend.answers_now(prepared.action)
        )

    def call_aws_now(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        *,
        want_body: bool = True,
    ) -> IntegrationResult:
        """:meth:`call_aws` for an integration :meth:`immediate` accepted: the same
        template, service call and answer, without a coroutine. It cannot outlast the
        integration timeout (nothing in it waits), so no deadline is kept."""
        prepared = self.prepare(integration)
        request = self._request(integration, context, body, prepared)
        # (immediate() checked the backend once: an isinstance of a Protocol per message
        # costs more than the whole service call)
        backend = cast(ImmediateBackend, prepared.backend)
        try:
            status, answer = backend.call_now(prepared.action, request)
        except Exception as exc:
            raise IntegrationError(500, f"{prepared.action} failed: {exc!r}") from exc
        return self._answer(prepared, context, status, answer, want_body)

    def _request(
        self, integration: Integration, context: Mapping[str, Any], body: str, prepared: _Prepared
    ) -> bytes:
        """The rendered service request of a message."""
        template = prepared.fixed_template
        if template is None:
            return self._render(integration, context, body, prepared).encode()
        # the usual case, one template whatever the body: _render without the lookups
        try:
            rendered: str = template.render(
                context=context, body=body, stage_variables=self.stage_variables
            )
        except Exception as exc:
            raise IntegrationError(500, f"request template failed: {exc}") from exc
        return rendered.encode()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(DEADLINE_CHECK_S)
            now = time.monotonic()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    def _render(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        prepared: _Prepared | None = None,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> str:
        prepared = prepared or self.prepare(integration)
        template = prepared.template_for(body)
        if template is None:
            if integration.passthrough_behavior == "NEVER" and prepared.templates:
                raise IntegrationError(
                    500, "no request template matches (PassthroughBehavior NEVER)"
                )
            return body
        try:
            rendered: str = template.render(
                context=context,
                body=body,
                stage_variables=self.stage_variables,
                request_params=request_params,
            )
        except Exception as exc:  # VtlError and anything a template function raises
            raise IntegrationError(500, f"request template failed: {exc}") from exc
        return rendered

    async def _whole(
        self,
        prepared: _Prepared,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        rendered: bytes,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> tuple[int, bytes]:
        """Send a whole request: the URI's target, mapped headers and query string."""
        target = prepared.target
        assert target is not None and isinstance(prepared.backend, AwsRequestBackend)
        headers: dict[str, str] = {}
        query: dict[str, str] = dict(target.query)
        path = target.path
        for where, name, source in prepared.parameters:
            value = _parameter_value(source, context, body, request_params, self.stage_variables)
            if value is None:
                continue
            if where == "header":
                headers[name] = value
            elif where == "querystring":
                query[name] = value
            elif where == "path" and path is not None:
                path = path.replace("{" + name + "}", value)
        request = ServiceRequest(
            action=target.action,
            path=path,
            method=integration.integration_method,
            headers=headers,
            query=query,
            body=rendered,
        )
        return await prepared.backend.request(request)

    async def _aws(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IntegrationResult:
        prepared = self.prepare(integration)
        request = self._render(integration, context, body, prepared, request_params)
        assert prepared.backend is not None
        try:
            if prepared.whole:
                status, answer = await self._whole(
                    prepared, integration, context, body, request.encode(), request_params
                )
            else:
                status, answer = await prepared.backend.call(prepared.action, request.encode())
        except Exception as exc:
            raise IntegrationError(500, f"{prepared.action} failed: {exc!r}") from exc
        return self._answer(prepared, context, status, answer, True)

    def _answer(
        self,
        prepared: _Prepared,
        context: Mapping[str, Any],
        status: int,
        answer: bytes,
        want_body: bool,
    ) -> IntegrationResult:
        """An AWS service's answer as the integration's result (non-2xx: an error)."""
        if not 200 <= status < 300:
            raise IntegrationError(500, f"{prepared.action} answered {status}: {answer[:200]!r}")
        if not want_body and prepared.response_template is None:
            return _OK  # a one-way route: the answer goes nowhere
        return self._respond(prepared, context, answer.decode("utf-8", "replace"))

    def _respond(
        self, prepared: _Prepared, context: Mapping[str, Any], answer: str
    ) -> IntegrationResult:
        if prepared.response_template is None:
            return IntegrationResult(200, {}, answer)
        try:
            text = prepared.response_template.render(
                context=context, body=answer, stage_variables=self.stage_variables
            )
        except Exception as exc:
            raise IntegrationError(500, f"response template failed: {exc}") from exc
        return IntegrationResult(200, {}, text)

    def _mock(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IntegrationResult:
        prepared = self.prepare(integration)
        status = 200
        if prepared.templates:
            rendered = self._render(integration, context, body, None, request_params)
            try:
                status = int(json.loads(rendered).get("statusCode", 200))
            except (ValueError, AttributeError, TypeError):
                status = 200
        if not 200 <= status < 300:
            return IntegrationResult(status)
        return self._respond(prepared, context, "")

    async def _lambda(
        self, integration: Integration, event: Mapping[str, Any], limit_s: float
    ) -> IntegrationResult:
        if integration.function is None:
            raise ConfigurationError("AWS_PROXY integration without a function")
        try:
            result = await self.runtime.invoke(integration.function, event, limit_s)
        except FunctionTimeout as exc:
            raise IntegrationError(502, str(exc)) from exc
        except (FunctionError, LambdaError, OSError) as exc:
            raise IntegrationError(502, str(exc)) from exc
        if result is None:
            return _OK
        if not isinstance(result, dict):
            return IntegrationResult(200, {}, json.dumps(result))
        try:
            status = int(result.get("statusCode", 200))
        except (TypeError, ValueError):
            raise IntegrationError(502, "malformed Lambda proxy response (statusCode)") from None
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if values:
                headers[str(name)] = ",".join(str(v) for v in values)
        body = result.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        return IntegrationResult(status, headers, body)

    async def _http(
        self,
        integration: Integration,
        context: Mapping[str, Any],
        body: str,
        request_params: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IntegrationResult:
        if not integration.uri:
            raise ConfigurationError("HTTP integration without IntegrationUri")
        uri = substitute_stage_variables(integration.uri, self.stage_variables)
        data = (
            body
            if integration.integration_type == "HTTP_PROXY"
            else self._render(integration, context, body, None, request_params)
        )
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                integration.integration_method, uri, data=data.encode()
            ) as response:
                text = await response.text()
                headers = {k: v for k, v in response.headers.items()}
                return IntegrationResult(response.status, headers, text)
        except aiohttp.ClientError as exc:
            raise IntegrationError(500, f"HTTP integration failed: {exc!r}") from exc

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            # wait() does not swallow a cancellation of stop() itself (a bounded stop).
            await asyncio.wait([self._watchdog])
            self._watchdog = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        close = getattr(self.services, "aclose", None)
        if close is not None:  # service backends that hold HTTP sessions
            await close()


def _parameter_map(parameters: Mapping[str, str]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """``RequestParameters`` as (header|querystring|path, name, source) once, at prepare
    time: the source is ``("literal", text)`` or its dotted path split."""
    mapped = []
    for key, value in parameters.items():
        parts = key.split(".", 3)
        if len(parts) != 4 or parts[:2] != ["integration", "request"]:
            raise ConfigurationError(f"RequestParameters key {key!r} is not integration.request.*")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            source: tuple[str, ...] = ("literal", value[1:-1])
        else:
            source = tuple(value.split("."))
        mapped.append((parts[2], parts[3], source))
    return tuple(mapped)


def _parameter_value(
    source: tuple[str, ...],
    context: Mapping[str, Any],
    body: str,
    request_params: Mapping[str, Mapping[str, str]] | None,
    stage_variables: Mapping[str, str],
) -> str | None:
    """One mapped parameter's value for this request (None: absent, not sent)."""
    head = source[0]
    value: Any = None
    if head == "literal":
        return source[1]
    if head == "context":
        value = _dig(context, source[1:])
    elif head == "stageVariables" and len(source) == 2:
        value = stage_variables.get(source[1])
    elif head == "route" and len(source) >= 4 and source[1] == "request":
        where = source[2]
        if where == "body":
            try:
                value = _dig(loads(body), source[3:])
            except (ValueError, RecursionError):
                value = None
        elif where in ("header", "querystring") and request_params is not None:
            found = request_params.get(where) or {}
            wanted = ".".join(source[3:])
            value = next((v for k, v in found.items() if k.lower() == wanted.lower()), None)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
