"""What a command that talks to AWS says when the machine is not set up for AWS.

botocore's own errors (``NoRegionError: You must specify a region.``, then
``NoCredentialsError``) arrive as tracebacks from deep inside a call. :func:`setup_problem`
asks the same questions botocore will (region, then credentials, resolved the SDK's usual
way: flags, environment, ``~/.aws/config``, SSO, instance roles) before anything is sent,
and :func:`aws_error_line` turns what still goes wrong mid-call into one line.
"""

from __future__ import annotations

__all__ = ["aws_error_line", "setup_problem"]

_HOW = (
    "configure AWS as for the aws CLI: `aws configure` (or `aws configure sso` and "
    "AWS_PROFILE), or the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables"
)


def setup_problem(region: str | None, *, region_flag: str = "--region") -> str | None:
    """Why an AWS call from here would fail before reaching AWS, or None when it would not.

    ``region`` is the command's flag value (None: the SDK's default chain decides).
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session()
        if not (region or session.region_name):
            return (
                f"no AWS region: give {region_flag} (e.g. {region_flag} us-east-1), or set "
                "AWS_DEFAULT_REGION, or a region in ~/.aws/config (`aws configure`)"
            )
        credentials = session.get_credentials()
    except BotoCoreError as exc:  # a named profile that does not exist, a broken config
        return f"AWS set-up: {exc}"
    if credentials is None:
        return f"no AWS credentials found: {_HOW}"
    return None


def aws_error_line(exc: BaseException) -> str | None:
    """One line for an SDK error that means "not set up" (None: not such an error)."""
    from botocore.exceptions import (
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        TokenRetrievalError,
    )

    if isinstance(exc, NoRegionError):
        return "no AWS region: give --region, or set AWS_DEFAULT_REGION (`aws configure`)"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"no usable AWS credentials ({exc}): {_HOW}"
    if isinstance(exc, TokenRetrievalError):
        return f"the AWS SSO session has expired ({exc}): run `aws sso login`"
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check AWS_PROFILE against ~/.aws/config"
    return None
