"""The CloudFormation loader: intrinsics, conditions, parameters, Lambda code, API model."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.local.cfn import (
    ParameterError,
    TemplateError,
    UnsupportedIntrinsic,
    UnsupportedResource,
    load_template,
)

REPO = Path(__file__).resolve().parents[4]

BASE = textwrap.dedent(
    """\
    AWSTemplateFormatVersion: 2010-09-09
    Parameters:
      Env:
        Type: String
        Default: dev
        AllowedValues: [dev, prod]
      Shards:
        Type: Number
        Default: 2
      Names:
        Type: CommaDelimitedList
        Default: "a,b,c"
    Conditions:
      IsProd: !Equals [!Ref Env, prod]
      NotProd: !Not [!Condition IsProd]
      Both: !And [!Condition NotProd, !Equals ["2", !Ref Shards]]
      Either: !Or [!Condition IsProd, !Condition Both]
    Resources:
      Api:
        Type: AWS::ApiGatewayV2::Api
        Properties:
          Name: !Sub "${AWS::StackName}-api-${Env}"
          ProtocolType: WEBSOCKET
          RouteSelectionExpression: $request.body.type
      Stream:
        Type: AWS::Kinesis::Stream
        Properties:
          Name: !Join ["-", [!Ref "AWS::StackName", !Select [1, !Ref Names], actions]]
          ShardCount: !If [IsProd, 8, !Ref Shards]
      ProdOnly:
        Type: AWS::Kinesis::Stream
        Condition: IsProd
        Properties:
          ShardCount: 1
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: !Select [0, !Split [",", "leases,other"]]
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions:
            - {AttributeName: shard_id, AttributeType: S}
            - {AttributeName: owner, AttributeType: S}
          KeySchema:
            - {AttributeName: shard_id, KeyType: HASH}
            - {AttributeName: owner, KeyType: RANGE}
      Fn:
        Type: AWS::Lambda::Function
        Properties:
          Runtime: python3.11
          Handler: app.handler
          Timeout: 7
          Code:
            ZipFile: |
              def handler(event, context):
                  return {"statusCode": 200}
          Environment:
            Variables:
              STREAM: !Ref Stream
              ARN: !GetAtt Stream.Arn
              REGION: !Ref AWS::Region
              PARTITION: !Ref AWS::Partition
              SUFFIX: !Ref AWS::URLSuffix
              ACCOUNT: !Ref AWS::AccountId
              DROPPED: !If [IsProd, "x", !Ref "AWS::NoValue"]
              BOTH: !If [Both, "yes", "no"]
              EITHER: !If [Either, "yes", "no"]
              ESCAPED: !Sub "${!Literal}-${Env}"
              VARS: !Sub ["${A}/${Table.Arn}", {A: !GetAtt [Api, ApiEndpoint]}]
      Role:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument: {}
    Outputs:
      Url:
        Value: !GetAtt Api.ApiEndpoint
      ProdStream:
        Condition: IsProd
        Value: !Ref ProdOnly
    """
)


def test_intrinsics_and_conditions() -> None:
    t = load_template(BASE, stack_name="s1", region="eu-west-1", account_id="123456789012")
    assert t.streams == {"s1-b-actions": 2}
    fn = t.functions["Fn"]
    env = fn.environment
    assert env["STREAM"] == "s1-b-actions"
    assert env["ARN"] == "arn:aws:kinesis:eu-west-1:123456789012:stream/s1-b-actions"
    assert (env["REGION"], env["PARTITION"], env["SUFFIX"], env["ACCOUNT"]) == (
        "eu-west-1",
        "aws",
        "amazonaws.com",
        "123456789012",
    )
    assert "DROPPED" not in env
    assert (env["BOTH"], env["EITHER"]) == ("yes", "yes")
    assert env["ESCAPED"] == "${Literal}-dev"
    api = t.api
    assert env["VARS"] == (
        f"wss://{api.api_id}.execute-api.eu-west-1.amazonaws.com/"
        "arn:aws:dynamodb:eu-west-1:123456789012:table/leases"
    )
    assert api.name == "s1-api-dev" and api.route_selection_expression == "$request.body.type"
    assert t.outputs == {"Url": f"wss://{api.api_id}.execute-api.eu-west-1.amazonaws.com"}
    assert t.ignored == {"Role": "AWS::IAM::Role"}
    table = t.tables["leases"]
    assert (table.partition_key, table.sort_key, table.billing_mode) == (
        "shard_id",
        "owner",
        "PAY_PER_REQUEST",
    )


def test_parameter_overrides_and_conditional_resources() -> None:
    t = load_template(BASE, parameters={"Env": "prod"}, stack_name="s1")
    assert t.streams == {"s1-b-actions": 8, "s1-ProdOnly": 1}
    assert t.functions["Fn"].environment["DROPPED"] == "x"
    assert t.outputs["ProdStream"] == "s1-ProdOnly"


def test_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="Env"):
        load_template(BASE, parameters={"Env": "staging"})
    with pytest.raises(ParameterError, match="Nope"):
        load_template(BASE, parameters={"Nope": "1"})
    no_default = BASE.replace("    Default: dev\n", "")
    with pytest.raises(ParameterError, match="Env: has no Default"):
        load_template(no_default)


def test_inline_code_is_written_as_the_handler_module() -> None:
    fn = load_template(BASE).functions["Fn"]
    assert fn.handler == "app.handler" and fn.timeout_s == 7.0
    assert fn.code_path is not None
    assert "def handler" in (fn.code_path / "app.py").read_text()


def test_json_and_mapping_sources(tmp_path: Path) -> None:
    import json

    document = {
        "Resources": {
            "S": {
                "Type": "AWS::Kinesis::Stream",
                "Properties": {"Name": "x", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
            }
        }
    }
    assert load_template(document).streams == {"x": 4}
    assert load_template(json.dumps(document)).streams == {"x": 4}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    assert load_template(path).streams == {"x": 4}
    assert load_template(str(path)).streams == {"x": 4}


@pytest.mark.parametrize(
    ("snippet", "error", "logical_id", "reason"),
    [
        (
            "Type: AWS::Kinesis::Stream\n    Properties:\n      Name: !ImportValue other-stack-name",
            UnsupportedIntrinsic,
            "Bad",
            "Fn::ImportValue",
        ),
        (
            "Type: AWS::Kinesis::Stream\n    Properties:\n      Name: !Cidr [a, 1, 2]",
            UnsupportedIntrinsic,
            "Bad",
            "Fn::Cidr",
        ),
        (
            "Type: AWS::Kinesis::Stream\n    Properties:\n      Name: !Ref Missing",
            TemplateError,
            "Bad",
            "Missing",
        ),
        (
            "Type: AWS::ApiGatewayV2::Api\n    Properties:\n      ProtocolType: HTTP",
            UnsupportedResource,
            "Bad",
            "only WEBSOCKET",
        ),
        (
            "Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.11\n      Handler: app.handler\n      Code: {S3Bucket: b, S3Key: k}",
            UnsupportedResource,
            "Bad",
            "--code-path Bad=DIR",
        ),
    ],
)
def test_unsupported_things_name_the_logical_id(
    snippet: str, error: type[TemplateError], logical_id: str, reason: str
) -> None:
    template = f"Resources:\n  Bad:\n    {snippet}\n"
    with pytest.raises(error) as raised:
        load_template(template)
    assert raised.value.logical_id == logical_id
    assert reason in str(raised.value)


def test_code_path_for_s3_and_image_functions(tmp_path: Path) -> None:
    template = textwrap.dedent(
        """\
        Resources:
          S3Fn:
            Type: AWS::Lambda::Function
            Properties: {Runtime: python3.11, Handler: app.handler, Code: {S3Bucket: b, S3Key: k}}
          ImageFn:
            Type: AWS::Lambda::Function
            Properties:
              PackageType: Image
              Code: {ImageUri: "123.dkr.ecr.us-east-1.amazonaws.com/x:1"}
              ImageConfig: {Command: [ingest.authorizer.handler]}
        """
    )
    t = load_template(template, code_paths={"S3Fn": tmp_path})
    assert t.functions["S3Fn"].code_path == tmp_path
    assert t.functions["ImageFn"].handler == "ingest.authorizer.handler"
    assert t.functions["ImageFn"].code_path is None
    with pytest.raises(TemplateError, match="Nope"):
        load_template(template, code_paths={"S3Fn": tmp_path, "Nope": tmp_path})


def test_other_resources_are_modelled_or_listed_never_refused() -> None:
    t = load_template(
        textwrap.dedent(
            """\
            Resources:
              Topic: {Type: AWS::SNS::Topic}
              Queue: {Type: AWS::SQS::Queue, Properties: {FifoQueue: true}}
              Bucket: {Type: AWS::S3::Bucket}
              Seed:
                Type: Custom::Seeder
                Properties: {ServiceToken: x}
              Fn:
                Type: AWS::Lambda::Function
                Properties:
                  Runtime: nodejs20.x
                  Handler: index.handler
                  Code: {ZipFile: "exports.handler = async () => 1"}
                  Environment:
                    Variables: {SEED: !GetAtt Seed.Done, QUEUE: !Ref Queue, TOPIC: !Ref Topic}
              Old:
                Type: AWS::Lambda::Function
                Properties: {Runtime: ruby3.3, Handler: app.handler, Code: {ZipFile: x}}
            """
        ),
        stack_name="s",
    )
    assert set(t.resources) == {"Topic", "Queue", "Bucket"}
    assert t.resources["Queue"].name == "s-Queue.fifo"
    assert t.resources["Bucket"].name == "s-bucket"
    env = t.functions["Fn"].environment
    assert env["QUEUE"] == "https://sqs.us-east-1.amazonaws.com/000000000000/s-Queue.fifo"
    assert env["TOPIC"] == "arn:aws:sns:us-east-1:000000000000:s-Topic"
    assert t.unmodelled == {"Seed": ("Custom::Seeder", ("Fn",))}
    assert (t.functions["Fn"].code_path / "index.js").is_file()  # type: ignore[operator]
    assert t.functions["Old"].unavailable is not None
    assert "ruby3.3" in t.functions["Old"].unavailable
    assert any("Old: runtime ruby3.3" in note for note in t.notes)


def test_unknown_types_can_be_ignored_explicitly() -> None:
    t = load_template("Resources:\n  Thing:\n    Type: Custom::Thing\n", ignore_unknown=True)
    assert t.ignored == {"Thing": "Custom::Thing"} and not t.unmodelled
    with pytest.raises(TemplateError, match="0 WebSocket APIs"):
        _ = t.api


def test_chat_example_template() -> None:
    t = load_template(REPO / "examples" / "chat" / "template.yaml")
    api = t.api
    assert set(api.routes) == {"$connect", "$disconnect", "sendmessage"}
    assert api.stage.name == "dev"
    handlers = {key: r.integration.function.handler for key, r in api.routes.items()}  # type: ignore[union-attr]
    assert handlers == {
        "$connect": "handlers.on_connect",
        "$disconnect": "handlers.on_disconnect",
        "sendmessage": "handlers.send_message",
    }
    table = next(iter(t.tables.values()))
    assert table.partition_key == "connectionId"
    for route in api.routes.values():
        function = route.integration.function  # type: ignore[union-attr]
        assert function.code_path == REPO / "examples" / "chat"
        assert function.environment == {"TABLE_NAME": table.name}
        assert function.timeout_s == 10.0
    assert (
        t.outputs["WebSocketURI"] == f"wss://{api.api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )


def test_unknown_transforms_are_refused() -> None:
    with pytest.raises(UnsupportedResource, match="AWS::LanguageExtensions"):
        load_template(
            "Transform: AWS::LanguageExtensions\nResources:\n  S:\n    Type: AWS::Kinesis::Stream\n"
        )


def test_chat_example_is_cfn_lint_clean() -> None:
    from cfnlint.api import ManualArgs, lint

    text = (REPO / "examples" / "chat" / "template.yaml").read_text()
    assert [str(m) for m in lint(text, config=ManualArgs(regions=["us-east-1"]))] == []  # type: ignore[arg-type]


def test_two_way_route_with_mock_integration_and_stage_settings(
    two_way_template: Callable[[str], str],
) -> None:
    api = load_template(two_way_template("""{"echo": $input.json(''$'')}""")).api
    route = api.routes["echo"]
    assert route.two_way and route.route_response_keys == ("$default",)
    integration = route.integration
    assert integration is not None and integration.integration_type == "MOCK"
    assert integration.template_selection_expression == "\\$default"
    assert integration.response_templates == {"$default": "{\"echo\": $input.json('$')}"}
    assert integration.response_selection_expression == "\\$default"
    assert (api.stage.name, api.stage.stage_variables) == ("v1", {"color": "blue"})
    assert (api.stage.throttling_burst_limit, api.stage.throttling_rate_limit) == (10, 5.0)


def test_event_sources_layers_and_notes() -> None:
    t = load_template(
        textwrap.dedent(
            """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Queue: {Type: AWS::SQS::Queue}
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: python3.11
                  Handler: app.handler
                  InlineCode: "def handler(e, c): pass"
                  Architectures: [arm64]
                  Layers: [arn:aws:lambda:us-east-1:123:layer:elsewhere:3]
                  Events:
                    Web: {Type: Api, Properties: {Path: /, Method: get}}
                    Tick: {Type: Schedule, Properties: {Schedule: "cron(0 12 * * ? *)"}}
              Mapping:
                Type: AWS::Lambda::EventSourceMapping
                Properties:
                  EventSourceArn: !GetAtt Queue.Arn
                  FunctionName: !GetAtt Fn.Arn
                  BatchSize: 3
                  FunctionResponseTypes: [ReportBatchItemFailures]
              Alerts: {Type: AWS::SNS::Topic}
              ToFn:
                Type: AWS::SNS::Subscription
                Properties: {TopicArn: !Ref Alerts, Protocol: lambda, Endpoint: !GetAtt Fn.Arn}
            """
        ),
        stack_name="s",
    )
    by_id = {s.logical_id: s for s in t.event_sources}
    mapping = by_id["Mapping"]
    assert (mapping.function, mapping.kind, mapping.batch_size) == ("Fn", "sqs", 3)
    assert mapping.source_arn == "arn:aws:sqs:us-east-1:000000000000:s-Queue"
    assert mapping.report_batch_item_failures
    assert by_id["FnTick"].schedule == "cron(0 12 * * ? *)"
    assert (by_id["ToFn"].kind, by_id["ToFn"].source_arn) == (
        "sns",
        "arn:aws:sns:us-east-1:000000000000:s-Alerts",
    )
    notes = "\n".join(t.notes)
    assert "Fn: SAM event Web (Type Api) does not run locally" in notes
    assert "Fn: Architectures is not emulated" in notes
    assert "layer arn:aws:lambda:us-east-1:123:layer:elsewhere:3 is not a local folder" in notes
    assert t.functions["Fn"].layers == ()


def test_request_models_come_from_model_resources() -> None:
    t = load_template(
        textwrap.dedent(
            """\
            Resources:
              Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}
              Model:
                Type: AWS::ApiGatewayV2::Model
                Properties:
                  ApiId: !Ref Api
                  Name: Order
                  Schema: '{"type": "object", "required": ["id"]}'
              Route:
                Type: AWS::ApiGatewayV2::Route
                Properties:
                  ApiId: !Ref Api
                  RouteKey: order
                  ModelSelectionExpression: $request.body.action
                  RequestModels: {order: Order, other: !Ref Model}
            """
        )
    )
    route = t.api.routes["order"]
    assert route.request_models == {
        "order": {"type": "object", "required": ["id"]},
        "other": {"type": "object", "required": ["id"]},
    }
    assert route.model_selection_expression == "$request.body.action"


def test_code_path_gives_an_s3_layer_its_folder(tmp_path: Path) -> None:
    template = textwrap.dedent(
        """\
        Resources:
          Shared:
            Type: AWS::Lambda::LayerVersion
            Properties: {Content: {S3Bucket: b, S3Key: layer.zip}}
          Fn:
            Type: AWS::Lambda::Function
            Properties:
              Runtime: python3.11
              Handler: app.handler
              Code: {ZipFile: "def handler(e, c): pass"}
              Layers: [!Ref Shared]
        """
    )
    t = load_template(template, code_paths={"Shared": tmp_path})
    assert t.functions["Fn"].layers == (tmp_path,)
    assert load_template(template).functions["Fn"].layers == ()  # noted, not on the path
