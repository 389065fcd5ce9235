"""Errors of the CloudFormation loader.

::

    TemplateError               the template cannot be run locally; ``logical_id`` names the
    │                           resource (or parameter, condition, output) at fault
    ├── UnsupportedResource     a resource type (or property) the local run does not know
    ├── UnsupportedIntrinsic    an intrinsic function the loader does not resolve
    │                           (Fn::ImportValue: other stacks do not exist locally)
    └── ParameterError          a missing, unknown or disallowed parameter value
"""

from __future__ import annotations

__all__ = ["ParameterError", "TemplateError", "UnsupportedIntrinsic", "UnsupportedResource"]


class TemplateError(Exception):
    """The template cannot be loaded; the message starts with the logical id."""

    def __init__(self, logical_id: str | None, reason: str) -> None:
        self.logical_id = logical_id
        self.reason = reason
        super().__init__(f"{logical_id}: {reason}" if logical_id else reason)


class UnsupportedResource(TemplateError):
    """A resource type or property that the local run cannot honour."""


class UnsupportedIntrinsic(TemplateError):
    """An intrinsic function the loader does not resolve."""


class ParameterError(TemplateError):
    """A parameter value is missing, unknown, or not one of its AllowedValues."""
