"""Compile a parsed Velocity template into Python closures.

Theory of operation: airspeed-ext parses the source once (so whitespace handling, string
literal rules and ``""`` escapes are exactly the interpreter's); this module walks the
parse tree and builds one closure per node, so a render is a handful of Python calls
instead of airspeed's per-node dispatch, exception wrapping and ``StringIO`` writes. Nodes
it does not know (``#foreach``, macros, ``#define``, ``#evaluate``, array/map literals,
ranges) raise :class:`Unsupported`, and the caller keeps airspeed's interpreter for that
template. The semantics both share (truthiness, name resolution) are in
:mod:`infra.local.vtl.semantics`; the tests render generated templates both ways and
compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airspeed import operators as ops

from infra.local.vtl.runtime import UTIL, Input
from infra.local.vtl.semantics import (
    index,
    literal_replacement,
    member,
    replace_all,
    to_text,
    velocity_true,
)

__all__ = ["Expr", "Unsupported", "Writer", "compile_template"]

# Java Map/List methods that change their receiver.
MUTATING_METHODS = frozenset(
    {"put", "putAll", "add", "addAll", "set", "remove", "removeAll", "clear"}
)

Expr = Callable[[dict[str, Any]], Any]
Writer = Callable[[dict[str, Any], list[str]], None]


class Unsupported(Exception):
    """A node the compiler does not handle; the interpreter renders the template."""


# --- the compiler ------------------------------------------------------------------------


class _Compiler:
    """Builds closures for one template.

    Constant folding: a variable set exactly once in the whole template, at the top level,
    to a literal (``#set($q = '"')``) is a constant after that ``#set``; references to it
    compile to text, and adjacent texts merge, so interpolated strings such as
    ``"{${q}v${q}:1}"`` cost one join of the parts that vary.
    """

    def __init__(self, root: Any) -> None:
        self.set_counts: dict[str, int] = {}
        self._count_sets(root)
        self.constants: dict[str, Any] = {}
        self.depth = 0
        # reference writer (by id) -> its text function, for interpolated strings
        self._reference_texts: dict[int, Callable[[dict[str, Any]], str]] = {}
        self._keep: list[Writer] = []  # keeps those ids valid while compiling
        # Generated code (see ``code``): the names it binds, and per writer (by id) the
        # code of a reference's text or of an assignment (variable, value)
        self.env: dict[str, Any] = {}
        self._temps = 0
        self._reference_codes: dict[int, str] = {}
        self._assign_codes: dict[int, tuple[str, str]] = {}
        # The ``$context`` fields the template reads (``$context.NAME...``); None when it
        # may read any (``$context`` itself, a call or index on it, ``#set($context...)``).
        self.context_fields: set[str] | None = set() if not self.set_counts.get("context") else None

    def _count_sets(self, node: Any) -> None:
        if type(node) is ops.Assignment:
            self.set_counts[node.root_term] = self.set_counts.get(node.root_term, 0) + 1
        for child in vars(node).values() if hasattr(node, "__dict__") else ():
            if isinstance(child, ops._Element):
                self._count_sets(child)
            elif isinstance(child, list):
                for item in child:
                    if isinstance(item, ops._Element):
                        self._count_sets(item)

    # --- expressions ---------------------------------------------------------------------

    def value(self, node: Any) -> Expr:
        """A ``Value`` (or anything that calculates) as a closure."""
        kind = type(node)
        if kind is ops.Value:
            return self.value(node.expression)
        if kind in _LITERALS:
            constant = node.value
            return lambda ns: constant
        if kind is ops.InterpolatedStringLiteral:
            return self.interpolation(node.block)
        if kind is ops.FormalReference:
            if node.expression is None or node.alternate is not None:
                raise Unsupported("reference without expression")
            folded = self.folded(node.expression)
            if folded is not _NOT_CONSTANT:
                return lambda ns: folded
            return self.variable(node.expression)
        if kind is ops.ParenthesizedExpression:
            return self.expression(node.calculate.__self__)
        if kind is ops.Expression:
            return self.expression(node)
        if kind is ops.UnaryOperatorValue:
            inner = self.value(node.value)
            return lambda ns: not velocity_true(inner(ns))
        raise Unsupported(kind.__name__)

    def folded(self, node: Any) -> Any:
        """The constant a plain ``$name`` stands for here, or ``_NOT_CONSTANT``."""
        part = node.part
        if node.subexpression is None and part.parameters is None and part.index is None:
            return self.constants.get(part.name, _NOT_CONSTANT)
        return _NOT_CONSTANT

    def interpolation(self, block: Any) -> Expr:
        pieces = self.pieces(block)
        if all(isinstance(p, str) for p in pieces):
            constant = "".join(pieces)  # type: ignore[arg-type]
            return lambda ns: constant
        texts = self._reference_texts.get
        if all(isinstance(p, str) or texts(id(p)) is not None for p in pieces):
            # only text and references: one join, no output list threaded through writers
            parts = [p if isinstance(p, str) else self._reference_texts[id(p)] for p in pieces]
            if len(parts) == 1:
                (only,) = parts
                return only  # type: ignore[return-value]
            return _generated_join(parts)
        write = self.block_from(pieces)

        def interpolate(ns: dict[str, Any]) -> str:
            out: list[str] = []
            write(ns, out)
            return "".join(out)

        return interpolate

    def expression(self, node: Any) -> Expr:
        """Binary operators, grouped at compile time exactly as airspeed groups them at run
        time (its operator-precedence stack); the right operand is evaluated first, as there."""
        terms = list(node.expression)
        values: list[Expr] = [self.value(terms[0])]
        pending: list[Any] = []
        rest = terms[1:]

        def reduce() -> None:
            right, left, op = values.pop(), values.pop(), pending.pop()
            values.append(_binary(op.apply_to, left, right))

        while rest:
            if not pending or rest[0].greater_precedence_than(pending[-1]):
                pending.append(rest[0])
                values.append(self.value(rest[1]))
                rest = rest[2:]
            else:
                reduce()
        while pending:
            reduce()
        return values[0]

    def note_context(self, node: Any) -> None:
        """Record which ``$context`` field a variable reads (see ``context_fields``)."""
        if node.part.name != "context" or self.context_fields is None:
            return
        names = _plain_chain(node)
        if names is None or len(names) < 2:
            self.context_fields = None
        else:
            self.context_fields.add(names[1])

    def variable(self, node: Any) -> Expr:
        """``$a.b(c)[0].d``: a ``VariableExpression`` chain from the namespace."""
        self.note_context(node)
        static = self.util_call(node)
        if static is not None:
            return static
        part = self.name(node.part)
        if node.subexpression is None:
            return part
        names = _plain_chain(node)
        if names is not None:  # ``$context.authorizer.matchId``: one closure, no calls
            return _chain(names)
        tail = self.sub(node.subexpression)
        return lambda ns: tail(part(ns), ns)

    def util_target(self, node: Any) -> Any:
        """The call node of ``$util.f(...)`` when it can be bound at compile time (the
        template never sets ``$util``), else None."""
        root, sub = node.part, node.subexpression
        if (root.name != "util" or root.parameters is not None or root.index is not None
                or self.set_counts.get("util") or sub is None
                or type(sub.expression) is not ops.VariableExpression):  # fmt: skip
            return None
        call = sub.expression.part
        function = getattr(UTIL, call.name, None)
        if call.parameters is None or function is None or call.name.startswith("_"):
            return None
        return call

    def util_call(self, node: Any) -> Expr | None:
        """``$util.f(x)...`` bound at compile time when the template never sets ``$util``."""
        call = self.util_target(node)
        if call is None:
            return None
        sub = node.subexpression
        function = getattr(UTIL, call.name)
        finish = self.finish(call)
        assert finish is not None
        head: Expr = lambda ns: finish(function, ns)  # noqa: E731
        values = call.parameters.values
        if not isinstance(values, ops._EmptyValues) and len(values.values) == 1:
            only = self.value(values.values[0])
            head = lambda ns: function(only(ns))  # noqa: E731
        if sub.expression.subexpression is None:
            return head
        tail = self.sub(sub.expression.subexpression)
        return lambda ns: tail(head(ns), ns)

    def sub(self, node: Any) -> Callable[[Any, dict[str, Any]], Any]:
        if type(node.expression) is ops.VariableExpression:
            inner = node.expression
            part = self.name_on(inner.part)
            if inner.subexpression is None:
                return part
            tail = self.sub(inner.subexpression)
            return lambda obj, ns: tail(part(obj, ns), ns)
        index_node = node.expression.index
        if type(index_node) not in (ops.IntegerLiteral, ops.StringLiteral):
            raise Unsupported("computed index after a call")
        key = index_node.value
        if node.subexpression is None:
            return lambda obj, ns: obj[key]
        tail = self.sub(node.subexpression)
        return lambda obj, ns: tail(obj[key], ns)

    def finish(self, node: Any) -> Callable[[Any, dict[str, Any]], Any] | None:
        """Apply the call arguments or the index of a ``NameOrCall`` to what it resolved."""
        if node.parameters is not None:
            values = node.parameters.values
            args = (
                []
                if isinstance(values, ops._EmptyValues)
                else [self.value(v) for v in values.values]
            )
            if not args:
                return lambda result, ns: result()
            if len(args) == 1:
                (only,) = args
                return lambda result, ns: result(only(ns))
            return lambda result, ns: result(*[a(ns) for a in args])
        if node.index is not None:
            key = self.value(node.index.index)
            return lambda result, ns: index(result, key(ns))
        return None

    def name(self, node: Any) -> Expr:
        name = node.name
        finish = self.finish(node)
        if finish is None:
            return lambda ns: ns.get(name)

        def lookup(ns: dict[str, Any]) -> Any:
            result = ns.get(name)
            return None if result is None else finish(result, ns)

        return lookup

    def name_on(self, node: Any) -> Callable[[Any, dict[str, Any]], Any]:
        name = node.name
        if node.parameters is not None and name in MUTATING_METHODS:
            # the compiled form reads the caller's mappings without copying them; a template
            # that changes a map or list is interpreted over a private copy instead
            raise Unsupported(f"mutating call .{name}()")
        finish = self.finish(node)
        constant_args = self.constant_arguments(node)
        if name == "replaceAll" and constant_args is not None and len(constant_args) == 2:
            replace = replace_all(*constant_args)
            generic = self.name_on_generic(name, finish)
            return lambda obj, ns: replace(obj) if type(obj) is str else generic(obj, ns)
        return self.name_on_generic(name, finish)

    def constant_arguments(self, node: Any) -> list[str] | None:
        """The arguments of a call when all are string constants, else None."""
        if node.parameters is None or isinstance(node.parameters.values, ops._EmptyValues):
            return None
        args = []
        for value in node.parameters.values.values:
            inner = value.expression if type(value) is ops.Value else value
            if type(inner) is ops.StringLiteral:
                args.append(inner.value)
                continue
            if type(inner) is not ops.InterpolatedStringLiteral:
                return None
            pieces = self.pieces(inner.block)
            if not all(isinstance(p, str) for p in pieces):
                return None
            args.append("".join(pieces))  # type: ignore[arg-type]
        return args

    @staticmethod
    def name_on_generic(
        name: str, finish: Callable[[Any, dict[str, Any]], Any] | None
    ) -> Callable[[Any, dict[str, Any]], Any]:

        def resolve(obj: Any, ns: dict[str, Any]) -> Any:
            # fast path for the common case, a key of a map (``$context.authorizer.matchId``)
            result = obj.get(name) if isinstance(obj, dict) else None
            if result is None:
                result = member(obj, name)
            if result is None or finish is None:
                return result
            return finish(result, ns)

        return resolve

    # --- generated code ------------------------------------------------------------------
    # The hot shapes of request templates (``#set`` of a reference, ``$util`` calls,
    # ``$a.b.c``, interpolated strings, ``.replaceAll`` with constant arguments) become
    # Python source, so a block is one function of straight-line code; anything else is
    # the closure above, called from that code. Each ``code`` computes exactly what the
    # closure for the same node computes, in the same order.

    def bind(self, obj: Any) -> str:
        """A name for ``obj`` in the generated code's globals."""
        name = f"_b{len(self.env)}"
        self.env[name] = obj
        return name

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def code(self, node: Any) -> str:
        """A Python expression over ``ns`` with the value of ``self.value(node)``."""
        kind = type(node)
        if kind is ops.Value:
            return self.code(node.expression)
        if kind in _LITERALS:
            return self.bind(node.value)
        if kind is ops.FormalReference and node.expression is not None and node.alternate is None:
            folded = self.folded(node.expression)
            if folded is not _NOT_CONSTANT:
                return self.bind(folded)
            return self.variable_code(node.expression)
        if kind is ops.InterpolatedStringLiteral:
            return self.interpolation_code(node.block)
        if kind is ops.Expression and len(node.expression) == 1:
            return self.code(node.expression[0])
        return f"{self.bind(self.value(node))}(ns)"

    def variable_code(self, node: Any) -> str:
        """``self.variable(node)`` as code."""
        call = self.util_target(node)
        if call is not None:
            function = getattr(UTIL, call.name)
            values = call.parameters.values
            args = (
                ""
                if isinstance(values, ops._EmptyValues)
                else ", ".join(self.code(v) for v in values.values)
            )
            head = f"{self.bind(function)}({args})"
            rest = node.subexpression.expression.subexpression
            return head if rest is None else self.sub_code(head, rest)
        names = _plain_chain(node)
        if names is not None:
            return self.chain_code(names)
        return f"{self.bind(self.variable(node))}(ns)"

    def chain_code(self, names: tuple[str, ...]) -> str:
        """``_chain(names)`` inlined: each step a map lookup, else ``member``."""
        code = f"ns.get({self.bind(names[0])})"
        get_member = self.bind(member)
        for i, name in enumerate(names[1:]):
            t, r, n = self.temp(), self.temp(), self.bind(name)
            generic = (
                f"(({r} if ({r} := {t}.get({n})) is not None else {get_member}({t}, {n})) "
                f"if isinstance({t}, dict) else {get_member}({t}, {n}))"
            )
            if i == 0 and names[:2] == ("input", "body"):
                # ``$input.body``: member() of an Input reads the attribute, a str
                generic = f"({t}.body if type({t}) is {self.bind(Input)} else {generic})"
            code = f"(None if ({t} := {code}) is None else {generic})"
        return code

    def sub_code(self, head: str, node: Any) -> str:
        """``self.sub(node)`` applied to ``head`` as code."""
        inner = node.expression
        if type(inner) is ops.VariableExpression and inner.subexpression is None:
            call = inner.part
            args = self.constant_arguments(call)
            if call.name == "replaceAll" and args is not None and len(args) == 2:
                generic = self.bind(self.name_on_generic(call.name, self.finish(call)))
                t = self.temp()
                literal = literal_replacement(*args)
                replace = (
                    f"{t}.replace({self.bind(literal[0])}, {self.bind(literal[1])})"
                    if literal is not None
                    else f"{self.bind(replace_all(*args))}({t})"
                )
                return f"({replace} if type({t} := {head}) is str else {generic}({t}, ns))"
        return f"{self.bind(self.sub(node))}({head}, ns)"

    def interpolation_code(self, block: Any) -> str:
        """``self.interpolation(block)`` as code: one join of constants and reference texts."""
        items = []
        for piece in self.pieces(block):
            if isinstance(piece, str):
                items.append(self.bind(piece))
                continue
            text = self._reference_codes.get(id(piece))
            if text is None:
                return f"{self.bind(self.interpolation(block))}(ns)"
            items.append(text)
        if not items:
            return self.bind("")
        if len(items) == 1:
            return items[0]
        return f"''.join(({', '.join(items)},))"

    def text_code(self, node: Any) -> str:
        """What the reference ``node`` (no alternate) writes, as code."""
        t = self.temp()
        value = self.variable_code(node.expression)
        return f"({t} if type({t} := {value}) is str else {self.bind(_as_text)}({t}))"

    # --- block elements ------------------------------------------------------------------

    def block(self, block: Any) -> Writer:
        """A ``Block``: its children's writers run in order."""
        return self.block_from(self.pieces(block))

    def pieces(self, block: Any) -> list[Writer | str]:
        pieces: list[Writer | str] = []
        for child in block.children:
            piece = self.element(child)
            if piece is None or piece == "":
                continue
            if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
                pieces[-1] += piece
            else:
                pieces.append(piece)
        return pieces

    def block_from(self, pieces: list[Writer | str]) -> Writer:
        """One generated function writing ``pieces`` in order."""
        lines = ["def run(ns, out):", "    a = out.append"]
        for piece in pieces:
            if isinstance(piece, str):
                lines.append(f"    a({self.bind(piece)})")
            elif id(piece) in self._reference_codes:
                lines.append(f"    a({self._reference_codes[id(piece)]})")
            elif id(piece) in self._assign_codes:
                name, value = self._assign_codes[id(piece)]
                t = self.temp()
                # Velocity 1.7: a null value leaves the variable as it was
                lines.append(f"    if ({t} := {value}) is not None:")
                lines.append(f"        ns[{self.bind(name)}] = {t}")
            else:
                lines.append(f"    {self.bind(piece)}(ns, out)")
        exec("\n".join(lines), self.env)
        run: Writer = self.env.pop("run")
        return run

    def element(self, node: Any) -> Writer | str | None:
        kind = type(node)
        if kind in (ops.Text, ops.FallthroughHashText):
            return str(node.text)
        if kind is ops.Comment:
            return None
        if kind is ops.FormalReference:
            return self.reference(node)
        if kind is ops.SetDirective:
            return self.assignment(node.assignment)
        if kind is ops.IfDirective:
            self.depth += 1
            try:
                return self.conditional(node)
            finally:
                self.depth -= 1
        raise Unsupported(kind.__name__)

    def reference(self, node: Any) -> Writer | str:
        if node.expression is None:
            raise Unsupported("bare $")
        if node.alternate is None:
            folded = self.folded(node.expression)
            if folded is not _NOT_CONSTANT:
                return "" if folded is None else to_text(folded)
        value = self.variable(node.expression)
        alternate = self.value(node.alternate.expression) if node.alternate else None
        text = _name_text(node.expression) if alternate is None else None
        if text is None:
            text = _reference_text(value, alternate)

        def write(ns: dict[str, Any], out: list[str]) -> None:
            out.append(text(ns))

        self._reference_texts[id(write)] = text
        self._reference_codes[id(write)] = (
            self.text_code(node) if alternate is None else f"{self.bind(text)}(ns)"
        )
        self._keep.append(write)
        return write

    def assignment(self, node: Any) -> Writer:
        if node.terms:
            raise Unsupported("#set of a member")  # may not mutate the caller's $context
        value = self.expression(node.value)
        value_code = self.code(node.value)
        root = node.root_term
        literal = _literal_of(node.value)
        if (literal is not _NOT_CONSTANT and literal is not None and self.depth == 0
                and self.set_counts[root] == 1):  # fmt: skip
            self.constants[root] = literal

        def assign(ns: dict[str, Any], out: list[str]) -> None:
            result = value(ns)
            if result is not None:  # Velocity 1.7: a null value leaves the variable as it was
                ns[root] = result

        self._assign_codes[id(assign)] = (root, value_code)
        self._keep.append(assign)
        return assign

    def conditional(self, node: Any) -> Writer:
        branches: list[tuple[Expr, Writer]] = [
            (self.value(node.condition.expression), self.block(node.block))
        ]
        for elseif in node.elseifs:
            branches.append((self.value(elseif.condition.expression), self.block(elseif.block)))
        otherwise = (
            self.block(node.else_block.block) if type(node.else_block) is ops.ElseBlock else None
        )

        def choose(ns: dict[str, Any], out: list[str]) -> None:
            for condition, block in branches:
                if velocity_true(condition(ns)):
                    block(ns, out)
                    return
            if otherwise is not None:
                otherwise(ns, out)

        return choose


_NOT_CONSTANT = object()
_LITERALS = (ops.StringLiteral, ops.IntegerLiteral, ops.FloatingPointLiteral,
             ops.BooleanLiteral, ops.NullLiteral)  # fmt: skip


def _literal_of(expression: Any) -> Any:
    """The constant of an expression that is one plain literal, else ``_NOT_CONSTANT``."""
    if len(expression.expression) != 1:
        return _NOT_CONSTANT
    node = expression.expression[0]
    node = node.expression if type(node) is ops.Value else node
    if type(node) in _LITERALS:
        return node.value
    return _NOT_CONSTANT


def _reference_text(value: Expr, alternate: Expr | None) -> Callable[[dict[str, Any]], str]:
    """What a ``$reference`` writes: its value as text, "" (or the alternate) for null."""

    def text(ns: dict[str, Any]) -> str:
        result = value(ns)
        if result is None:
            # silent: a missing reference renders as "" (API Gateway)
            return "" if alternate is None else to_text(alternate(ns) or "")
        return result if type(result) is str else to_text(result)

    return text


def _name_text(node: Any) -> Callable[[dict[str, Any]], str] | None:
    """The text of a plain ``$name`` (no member, call or index) read straight from the
    namespace; None for anything else."""
    part = node.part
    if node.subexpression is not None or part.parameters is not None or part.index is not None:
        return None
    name = part.name

    def text(ns: dict[str, Any]) -> str:
        result = ns.get(name)
        if type(result) is str:
            return result
        return "" if result is None else to_text(result)

    return text


def _plain_chain(node: Any) -> tuple[str, ...] | None:
    """``$a.b.c`` without calls or indexes as its names, else None."""
    names: list[str] = []
    part, sub = node.part, node.subexpression
    while True:
        if part.parameters is not None or part.index is not None:
            return None
        names.append(part.name)
        if sub is None:
            return tuple(names)
        if type(sub.expression) is not ops.VariableExpression:
            return None
        part, sub = sub.expression.part, sub.expression.subexpression


def _chain(names: tuple[str, ...]) -> Expr:
    """``$a.b.c`` in one closure; each step resolves as ``name_on_generic`` does."""
    root, rest = names[0], names[1:]

    def lookup(ns: dict[str, Any]) -> Any:
        obj = ns.get(root)
        if obj is None:
            return None
        for name in rest:
            result = obj.get(name) if isinstance(obj, dict) else None
            obj = member(obj, name) if result is None else result
            if obj is None:
                return None
        return obj

    return lookup


def _generated_join(parts: list[Any]) -> Expr:
    """``lambda ns: "".join((c0, t1(ns), ...))`` for constant texts and text functions:
    straight-line code instead of a loop over the parts."""
    env: dict[str, Any] = {}
    items = []
    for i, part in enumerate(parts):
        env[f"p{i}"] = part
        items.append(f"p{i}" if isinstance(part, str) else f"p{i}(ns)")
    join: Expr = eval(f"lambda ns: ''.join(({', '.join(items)},))", env)
    return join


def _binary(apply: Callable[[Any, Any], Any], left: Expr, right: Expr) -> Expr:
    def binary(ns: dict[str, Any]) -> Any:
        b = right(ns)
        return apply(left(ns), b)

    return binary


def _as_text(value: Any) -> str:
    """A non-string reference value as text: "" for null (silent), else Java's printing
    (a plain int, e.g. ``$context.requestTimeEpoch``, prints as Python prints it)."""
    if type(value) is int:
        return str(value)
    return "" if value is None else to_text(value)


def compile_template(root: Any) -> tuple[Writer, frozenset[str] | None]:
    """Compile airspeed's ``TemplateBody`` into one writer, with the ``$context`` fields it
    reads (None: any); raises :class:`Unsupported`."""
    compiler = _Compiler(root)
    writer = compiler.block(root.block)
    fields = compiler.context_fields
    return writer, None if fields is None else frozenset(fields)
