"""Property: any template either loads or raises TemplateError (never another exception)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.local.cfn import TemplateError, load_template

_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=6),
    st.sampled_from(["WEBSOCKET", "AWS_PROXY", "$connect", "integrations/x", "a.b", "REQUEST",
                     "Image", "python3.11", "AWS::NoValue", "A", "C"]),
)  # fmt: skip
_KEYS = st.sampled_from(["Ref", "Fn::Sub", "Fn::If", "Fn::Join", "Fn::GetAtt", "Fn::Select",
                         "Fn::Split", "Fn::Equals", "Fn::Not", "Condition", "Variables",
                         "Command", "ZipFile", "StreamMode", "KeyType", "AttributeName", "X"])  # fmt: skip
_VALUE = st.recursive(
    _LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=10,
)  # fmt: skip
_TYPES = st.sampled_from([
    "AWS::Kinesis::Stream", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::RouteResponse", "AWS::ApiGatewayV2::IntegrationResponse",
    "AWS::Lambda::Function", "AWS::Serverless::Function", "AWS::DynamoDB::Table", "AWS::IAM::Role",
])  # fmt: skip
_PROPERTY = st.sampled_from([
    "Name", "ShardCount", "StreamModeDetails", "ApiId", "ProtocolType", "RouteKey", "Target",
    "IntegrationType", "IntegrationUri", "AuthorizerType", "AuthorizerUri", "IdentitySource",
    "StageName", "StageVariables", "DefaultRouteSettings", "Handler", "Code", "Runtime",
    "Environment", "Timeout", "KeySchema", "AttributeDefinitions", "RequestTemplates",
    "RequestParameters", "RouteResponseKey", "RouteId", "IntegrationId", "ResponseTemplates",
    "AuthorizationType", "AuthorizerId", "PackageType", "ImageConfig", "InlineCode",
])  # fmt: skip
_RESOURCE = st.fixed_dictionaries(
    {"Type": _TYPES},
    optional={"Properties": st.dictionaries(_PROPERTY, _VALUE, max_size=5), "Condition": _LEAF},
)
_TEMPLATE = st.fixed_dictionaries(
    {"Resources": st.dictionaries(st.sampled_from(["A", "B", "C"]), _RESOURCE, max_size=3)},
    optional={
        "Parameters": st.dictionaries(st.sampled_from(["A", "P"]), _VALUE, max_size=2),
        "Conditions": st.dictionaries(st.sampled_from(["C", "D"]), _VALUE, max_size=2),
        "Outputs": st.dictionaries(st.just("O"), _VALUE, max_size=1),
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(_TEMPLATE)
def test_any_template_loads_or_raises_template_error(template: dict[str, object]) -> None:
    try:
        load_template(template)
    except TemplateError as exc:
        assert exc.reason


def test_a_condition_named_by_a_non_string_is_a_template_error() -> None:
    # Found by the property above: Fn::If's first argument was used as a dict key.
    template = {
        "Resources": {
            "A": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": {"Fn::If": [[], 1, 2]}}}
        }
    }
    with pytest.raises(TemplateError, match="condition is named by a string"):
        load_template(template)


def test_get_att_of_a_non_string_resource_is_a_template_error() -> None:
    # Found by the property above: Fn::GetAtt's resource was used as a dict key.
    template = {
        "Resources": {
            "A": {
                "Type": "AWS::Kinesis::Stream",
                "Properties": {"Name": {"Fn::GetAtt": [[], None]}},
            }
        }
    }
    with pytest.raises(TemplateError, match="must be a resource name"):
        load_template(template)
