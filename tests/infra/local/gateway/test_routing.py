"""Route selection (pure): paths, composition, stringification, $default, Forbidden."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.gateway.errors import ConfigurationError
from infra.local.gateway.routing import compile_selection_expression, select_route, stringify

ACTION = compile_selection_expression("$request.body.action")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def test_nested_paths_and_indexes():
    expr = compile_selection_expression("$request.body.a.b[1]['c d']")
    body = {"a": {"b": [0, {"c d": "hit"}]}}
    assert expr.evaluate(body) == "hit"
    assert expr.evaluate({"a": {"b": [0]}}) == ""


def test_composed_expression():
    expr = compile_selection_expression("${request.body.kind}/${request.body.verb}")
    assert expr.evaluate({"kind": "chat", "verb": "send"}) == "chat/send"
    assert expr.evaluate({"kind": "chat"}) == "chat/"


def test_literal_and_bad_expressions():
    assert compile_selection_expression("\\$default").evaluate({}) == "$default"
    with pytest.raises(ConfigurationError):
        compile_selection_expression("$request.header.x")


def test_stringified_values():
    keys = {"true", "1", "1.5", "[1, 2]", "[item1, item2]", "[a, null, [true]]", '{"a":1}'}
    keys.add("$default")
    for value, key in (
        (True, "true"),
        (1, "1"),
        (1.5, "1.5"),
        # arrays as API Gateway stringifies them (Java's List.toString), not as JSON
        ([1, 2], "[1, 2]"),
        (["item1", "item2"], "[item1, item2]"),
        (["a", None, [True]], "[a, null, [true]]"),
        ({"a": 1}, '{"a":1}'),
    ):
        assert select_route(ACTION, json.dumps({"action": value}), keys) == key
    assert select_route(ACTION, json.dumps({"action": None}), {"", "x"}) == ""


def test_default_and_forbidden():
    keys = {"hello", "$default"}
    assert select_route(ACTION, "not json", keys) == "$default"
    assert select_route(ACTION, "not json", {"hello"}) is None
    assert select_route(ACTION, '{"action": "nope"}', {"hello"}) is None
    assert select_route(ACTION, '{"action": "$connect"}', {"$connect", "$default"}) == "$default"


@given(st.text(max_size=12), st.sets(st.text(max_size=12), max_size=5), st.booleans())
def test_exact_match_wins_else_default_else_none(action, keys, with_default):
    route_keys = set(keys) | ({"$default"} if with_default else set())
    chosen = select_route(ACTION, json.dumps({"action": action}), route_keys)
    if action in route_keys and action not in ("$connect", "$disconnect"):
        assert chosen == action
    elif with_default:
        assert chosen == "$default"
    else:
        assert chosen is None


@given(json_values)
def test_any_json_value_stringifies_and_routes(value):
    text = json.dumps({"action": value})
    key = stringify(value)
    assert select_route(ACTION, text, {key}) == key or key in ("$connect", "$disconnect")


@given(st.text(max_size=200))
def test_any_text_routes_without_raising(text):
    assert select_route(ACTION, text, {"$default"}) == "$default"
