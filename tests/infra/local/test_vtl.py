"""VTL request templates: API Gateway's semantics, compiled form == interpreter."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.aws.stack.templates import kinesis_request_template
from infra.local.vtl import (
    TemplateRenderError,
    TemplateSyntaxError,
    compile_request_template,
    render_request_template,
)
from ingest.records import InputRecord, JoinRecord, LeaveRecord, decode

CONTEXT: dict[str, Any] = {
    "connectionId": "Mg_ugfpqPHcCIVA=",
    "connectedAt": 1700000000000,
    "domainName": "127.0.0.1",
    "eventType": "MESSAGE",
    "messageId": "Mg_ugf2SPHcCIVA=",
    "routeKey": "input",
    "requestId": "r-1",
    "extendedRequestId": "r-1",
    "apiId": "tickwire0",
    "stage": "local",
    "requestTime": "19/Jan/2023:21:13:26 +0000",
    "requestTimeEpoch": 1700000000123,
    "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
    "authorizer": {"principalId": "p-1", "matchId": "m-1", "playerId": "p-1"},
}

TRICKY_BODIES = [
    '{"action":"input","seq":1,"move":[1,0]}',
    "it's a \"quoted\" 'string' with \\ backslash \\' and /slashes/",
    "unicode: é ß 中文 😀 \u2028 \u2029 \x00 \x1f \x7f",
    '{"nested":{"a":[1,{"b":"c"}],"d":null,"e":true,"f":1.5e300}}',
    "",
    "$context.connectionId #set($x = 1) ${q} $!nope",
    "\n\r\t\b\f",
]


def render(source: str, body: str = "{}", **overrides: Any) -> str:
    context = {**CONTEXT, **overrides.pop("context", {})}
    stage_variables = overrides.pop("stage_variables", {})
    template = compile_request_template(source)
    compiled = template.render(context=context, body=body, stage_variables=stage_variables)
    interpreted = template.interpret(context=context, body=body, stage_variables=stage_variables)
    assert compiled == interpreted, "compiled form differs from the interpreter"
    return compiled


# --- references --------------------------------------------------------------------------


def test_missing_references_render_empty() -> None:
    out = render("[$nope][${nope}][$!nope][$context.nope][$context.authorizer.nope.deeper]")
    assert out == "[][][][][]"


def test_context_variables() -> None:
    out = render(
        "$context.connectionId|$context.identity.sourceIp|$context.authorizer.matchId"
        "|$context.authorizer.principalId|$context.requestTimeEpoch|$context.stage"
    )
    assert out == "Mg_ugfpqPHcCIVA=|127.0.0.1|m-1|p-1|1700000000123|local"


def test_java_printing_of_booleans_maps_lists_doubles() -> None:
    context = {"authorizer": {"flag": True, "off": False, "n": 2, "x": 1e20, "y": 0.5}}
    out = render(
        "$context.authorizer.flag $context.authorizer.off $context.authorizer.x "
        "$context.authorizer.y $context.identity",
        context=context,
    )
    assert out == "true false 1.0E20 0.5 {sourceIp=127.0.0.1, userAgent=test}"
    body = '{"a":{"b":[1,"x",true,null,2.5]},"c":false}'
    # JSONPath arrays are json-smart arrays on AWS: they print as JSON, maps as Java maps
    assert render("$input.path('$')", body) == '{a={b=[1,"x",true,null,2.5]}, c=false}'
    assert render("$input.path('$.a.b')", body) == '[1,"x",true,null,2.5]'
    assert render("$input.path('$.c')", body) == "false"
    assert render("$input.path('$')", '{"a":1,"b":[{"c":5}]}') == '{a=1, b=[{"c":5}]}'
    assert render("$input.path('$').b", '{"a":1,"b":[{"c":5}]}') == '[{"c":5}]'
    assert render("$util.parseJson($input.body).b", '{"b":[{"c":5}]}') == "[{c=5}]"


def test_stage_variables() -> None:
    out = render("$stageVariables.stream/$stageVariables.nope", stage_variables={"stream": "s1"})
    assert out == "s1/"


def test_alternate_value() -> None:
    assert render("${nope|'dflt'}-${context.stage|'x'}") == "dflt-local"


# --- $input ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_input_body_is_raw_text(body: str) -> None:
    assert render("$input.body", body) == body


def test_input_json_and_path() -> None:
    body = '{"action":"input","seq":7,"move":[1,-1],"name":"a\\"b é","deep":{"k":[{"v":1}]}}'
    assert render("$input.json('$')", body) == json.dumps(
        json.loads(body), ensure_ascii=False, separators=(",", ":")
    )
    assert render("$input.json('$.move')", body) == "[1,-1]"
    assert render("$input.json('$.name')", body) == '"a\\"b é"'
    assert render("$input.json('$.deep.k[0].v')", body) == "1"
    assert render("$input.json(\"$['deep']['k'][0]\")", body) == '{"v":1}'
    assert render("$input.path('$.seq')", body) == "7"
    assert render("$input.path('$.name')", body) == 'a"b é'
    assert render("$input.path('$.move').size()", body) == "2"
    assert render("$input.path('$.move')[1]", body) == "-1"


def test_missing_paths() -> None:
    body = '{"a":{"b":1},"l":[1]}'
    assert (
        render("[$input.path('$.nope')][$input.path('$.a.b.c')][$input.path('$.l[5]')]", body)
        == "[][][]"
    )
    assert render("[$input.json('$.nope')]", body) == "[]"
    # no body at all: every path is missing (not an empty object)
    assert render("[$input.path('$')][$input.json('$')][$input.body]", "") == "[][][]"


def test_input_json_of_non_json_body_is_a_render_error() -> None:
    with pytest.raises(TemplateRenderError, match="not JSON"):
        render_request_template(
            "$input.json('$')", context=CONTEXT, body="not json", stage_variables={}
        )


# --- $util -------------------------------------------------------------------------------


def test_escape_javascript_matches_commons_lang() -> None:
    text = 'it\'s "q" \\ / \n\t\r\b\f \x01 é 😀'
    assert render("$util.escapeJavaScript($input.body)", text) == (
        'it\\\'s \\"q\\" \\\\ \\/ \\n\\t\\r\\b\\f \\u0001 \\u00E9 \\uD83D\\uDE00'
    )


def test_escape_javascript_with_documented_fix_is_valid_json() -> None:
    for body in TRICKY_BODIES:
        out = render('"$util.escapeJavaScript($input.body).replaceAll("\\\\\'","\'")"', body)
        assert json.loads(out) == body


def test_util_functions() -> None:
    assert (
        render("$util.base64Encode($input.body)", "é!") == base64.b64encode("é!".encode()).decode()
    )
    assert render("$util.base64Decode('w6kh')") == "é!"
    assert render("$util.urlEncode('a b&c=d/é~*')") == "a+b%26c%3Dd%2F%C3%A9%7E*"
    assert render("$util.urlDecode('a+b%26c%3D%C3%A9')") == "a b&c=é"
    assert render(
        "#set($m = $util.parseJson($input.body))$m.a $m.b", '{"a":[1,2],"b":{"c":true}}'
    ) == ("[1, 2] {c=true}")


# --- directives --------------------------------------------------------------------------


def test_if_follows_velocity_truthiness() -> None:
    template = "#if($nope)a#{else}b#end #if(!$nope)c#end #if('')d#end #if($context.authorizer.f)e#{else}f#end"
    assert render(template, context={"authorizer": {"f": False}}) == "b c d f"
    assert (
        render(
            "#if($input.path('$.x') == 2)two#elseif($input.path('$.x') > 2)big#{else}small#end",
            '{"x":3}',
        )
        == "big"
    )
    assert render("#if($nope && true)x#{else}y#end#if($nope || 1)z#end") == "yz"


def test_set_and_whitespace() -> None:
    assert render("#set($a = 'x')\n#set($b = \"${a}-${a}\")\n$b\n") == "x-x\n"
    # Velocity 1.x identifiers may contain '-': "$a-" is a (missing) reference of its own
    assert render("#set($a = 'x')$a-$a") == "x"
    assert render("#set($q = '\"')\n#set($q = 'changed')\n$q") == "changed"


def test_set_to_null_keeps_the_previous_value() -> None:
    template = "#set($name = 'anon')#set($name = $input.path('$.name'))$name"
    assert render(template, '{"x":1}') == "anon"
    assert render(template, '{"name":"ann"}') == "ann"
    assert render("#set($x = $nope)[$x]") == "[]"


def test_doubled_quotes_in_strings() -> None:
    assert render('#set($s = "say ""hi""")$s') == 'say "hi"'


def test_foreach_falls_back_to_the_interpreter() -> None:
    template = compile_request_template("#foreach($x in $input.path('$.l'))$x,#end")
    assert not template.compiled
    assert render("#foreach($x in $input.path('$.l'))$x,#end", '{"l":[1,2]}') == "1,2,"


def test_mutating_calls_never_change_the_callers_context() -> None:
    source = "$context.authorizer.put('matchId', 'changed')$context.authorizer.matchId"
    context = {"authorizer": {"matchId": "m-1"}}
    template = compile_request_template(source)
    assert not template.compiled  # interpreted over a private copy
    assert template.render(context=context, body="", stage_variables={}) == "m-1changed"
    assert context == {"authorizer": {"matchId": "m-1"}}


def test_templates_compile_once() -> None:
    source = "$context.stage"
    assert compile_request_template(source) is compile_request_template(source)
    assert compile_request_template(source).compiled


def test_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_request_template("#set($x = ")


# --- tickwire's own record templates ---------------------------------------------------


def record_of(rendered: str) -> bytes:
    request = json.loads(rendered)
    assert request["StreamName"] == "tickwire-actions"
    assert request["PartitionKey"] == CONTEXT["authorizer"]["matchId"]
    return base64.b64decode(request["Data"], validate=True)


@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_input_record_for_tricky_bodies(body: str) -> None:
    data = record_of(render(kinesis_request_template("input", "tickwire-actions"), body))
    record = json.loads(data)
    assert record == {
        "v": 1,
        "type": "input",
        "match": "m-1",
        "player": "p-1",
        "conn": "Mg_ugfpqPHcCIVA=",
        "t": 1700000000123,
        "body": body,
    }


def test_join_and_leave_records_decode() -> None:
    join = decode(record_of(render(kinesis_request_template("join", "tickwire-actions"), "")))
    assert isinstance(join, JoinRecord) and (join.match, join.player) == ("m-1", "p-1")
    leave = decode(record_of(render(kinesis_request_template("leave", "tickwire-actions"), "x")))
    assert isinstance(leave, LeaveRecord) and leave.conn == "Mg_ugfpqPHcCIVA="
    body = '{"action":"input","seq":3,"move":[1,0]}'
    record = decode(record_of(render(kinesis_request_template("input", "tickwire-actions"), body)))
    assert isinstance(record, InputRecord) and record.seq == 3


def test_authorizer_values_cannot_break_the_record() -> None:
    context = {"authorizer": {"matchId": "m\"1'\\", "playerId": "p</é>"}}
    rendered = render(kinesis_request_template("join", "s"), "", context=context)
    request = json.loads(rendered)
    assert request["PartitionKey"] == "m\"1'\\"
    record = json.loads(base64.b64decode(request["Data"]))
    assert (record["match"], record["player"]) == ("m\"1'\\", "p</é>")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_record_is_valid_json_for_any_client_text(text: str) -> None:
    data = record_of(render(kinesis_request_template("input", "tickwire-actions"), text))
    record = json.loads(data.decode("utf-8"))
    assert record["body"] == text


def commons_lang_escape(text: str) -> str:
    """commons-lang 2 ``escapeJavaStyleString(str, escapeSingleQuote=true,
    escapeForwardSlash=true)``, char by char over UTF-16 units: the reference."""
    units = text.encode("utf-16-be", "surrogatepass")
    out = []
    short = {8: "\\b", 10: "\\n", 9: "\\t", 12: "\\f", 13: "\\r"}
    quoted = {ord("'"): "\\'", ord('"'): '\\"', ord("\\"): "\\\\", ord("/"): "\\/"}
    for i in range(0, len(units), 2):
        ch = int.from_bytes(units[i : i + 2], "big")
        if ch > 0x7F:
            out.append(f"\\u{ch:04X}")
        elif ch < 32:
            out.append(short.get(ch, f"\\u{ch:04X}"))
        else:
            out.append(quoted.get(ch, chr(ch)))
    return "".join(out)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_escape_javascript_is_commons_lang(text: str) -> None:
    from infra.local.vtl import escape_javascript

    assert escape_javascript(text) == commons_lang_escape(text)


# --- differential: compiled form == interpreter on generated templates -------------------

_TEXT = st.text(alphabet="ab {}:,\"'\n\\", max_size=4)
_REFS = [
    "$context.connectionId", "$context.authorizer.matchId", "$context.nope", "$context.identity",
    "$context.requestTimeEpoch", "$input.body", "$input.json('$.a')", "$input.json('$')",
    "$input.path('$.a')", "$input.path('$.l')", "$input.path('$.l').size()", "$input.path('$.l')[0]",
    "${x}", "$!x", "$x", "$x.length()", "${x|'alt'}", "$util.escapeJavaScript($input.body)",
    "$util.base64Encode($context.stage)", "$util.urlEncode($x)", "$stageVariables.s",
    "$util.escapeJavaScript($x).replaceAll(\"\\\\'\", \"'\")", "$input.path('$.a').toUpperCase()",
]  # fmt: skip
_SETS = [
    "#set($x = 'v')", "#set($x = $input.path('$.a'))", '#set($x = "i-${context.stage}-$x")',
    "#set($x = 1)", "#set($x = $nope)", "#set($x = $x + 1)", "#set($y = $input.path('$.l'))",
    "#set($x = \"q\"\"q\")",
]  # fmt: skip
_CONDITIONS = [
    "$x", "!$x", "$x == 1", "$input.path('$.a') == 'q'", "$nope", "$context.stage && $x",
    "$x || false", "$y.size() > 1", "$x != 'v'",
]  # fmt: skip
_PIECE = st.one_of(
    _TEXT,
    st.sampled_from(_REFS),
    st.sampled_from(_SETS),
    st.builds(
        lambda c, a, b: f"#if({c}){a}#{{else}}{b}#end",
        st.sampled_from(_CONDITIONS),
        st.sampled_from(_REFS) | _TEXT,
        st.sampled_from(_REFS) | _TEXT,
    ),
)
_BODY = st.one_of(
    st.just('{"a":"q","l":[1,2]}'),
    st.builds(
        lambda a, items: json.dumps({"a": a, "l": items}),
        st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()),
        st.lists(st.integers(), max_size=3),
    ),
    st.text(max_size=8),
)


def _outcome(render: Any) -> tuple[str, str]:
    try:
        return ("ok", render())
    except TemplateRenderError:
        return ("error", "")


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECE, max_size=6), _BODY)
def test_compiled_form_matches_the_interpreter(pieces: list[str], body: str) -> None:
    source = "".join(pieces)
    try:
        template = compile_request_template(source)
    except TemplateSyntaxError:
        return  # generated text can be invalid Velocity (a stray '#' or '$'); both agree
    kwargs = {"context": CONTEXT, "body": body, "stage_variables": {"s": "sv"}}
    assert _outcome(lambda: template.render(**kwargs)) == _outcome(
        lambda: template.interpret(**kwargs)
    )


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ("$context.requestId $context.authorizer.matchId", {"requestId", "authorizer"}),
        ("#set($x = $util.escapeJavaScript($context.connectionId))$x", {"connectionId"}),
        ('"${context.routeKey}"#if($context.stage)x#end', {"routeKey", "stage"}),
        ("$input.body", set()),
        ("$context", None),  # the whole map: any field
        ("$context.requestId.length()", None),
        ("$context['requestId']", None),
        ("#set($context = {})$context.x", None),
        ("#foreach($x in [1])$context.a#end", None),  # interpreted
    ],
)
def test_context_fields_a_template_reads(source: str, fields: set[str] | None) -> None:
    got = compile_request_template(source).context_fields
    assert got == (None if fields is None else frozenset(fields))
