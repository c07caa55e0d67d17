"""Unit tests read as input/output pairs, so that the verdict never runs in the candidate's interpreter.

``assert add(2, 3) == 5``, ``assert abs(candidate(x) - y) < 1e-6``, ``assert not candidate(x)`` and HumanEval's
``def check(candidate): ...`` followed by ``check(name)`` are parsed here with :mod:`ast`. Each call of the program's
functions becomes a :class:`Call` with literal arguments; the sandbox only calls the function and returns its output
as plain data, and :meth:`IOTests.verdict` evaluates the test's own expression over those outputs in the scorer.

The evaluator understands a small, closed set of operations on exact built-in values (literals, arithmetic with size
guards, comparisons, ``abs``, ``round``, ``len``, ``sorted``, ``set``, ``math.fabs``, ``math.isclose``, indexing,
...), so it runs no code from the tests or the candidate. Tests outside that form raise :class:`NotIOForm`.
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass, field

MAX_CALLS = 10_000
MAX_REPEAT = 10**7  # longest str/list a test's ``*`` may build
PLACEHOLDER = "#out"  # the name of a call's output in the rewritten tests: no Python identifier can equal it


class NotIOForm(ValueError):
    """The tests cannot be read as input/output pairs (the reason says which line and why)."""


@dataclass
class Call:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class IOTests:
    """The calls to make in the sandbox and the test statements (calls replaced by their outputs) to check after."""

    calls: list[Call]
    steps: list[ast.stmt]
    env: dict

    def verdict(self, outputs: list) -> tuple[bool, str]:
        """(passed, reason): the tests' own assertions evaluated over the ``outputs`` of :attr:`calls`."""
        if len(outputs) != len(self.calls):
            return False, f"{len(outputs)} outputs for {len(self.calls)} calls"
        env = dict(self.env)
        env.update({f"{PLACEHOLDER}{k}": value for k, value in enumerate(outputs)})
        for step in self.steps:
            try:
                if isinstance(step, ast.Assign):
                    env[step.targets[0].id] = evaluate(step.value, env)
                    continue
                ok = bool(evaluate(step.test, env))
            except Exception as err:  # an output of the wrong type or shape: the test fails, as it would in Python
                return False, f"tests line {step.lineno}: {type(err).__name__}: {err}"[:300]
            if not ok:
                return False, f"tests line {step.lineno}: assertion failed{_shown(step.test, env)}"[:300]
        return True, f"{len(self.calls)} calls checked outside the sandbox"


def _shown(test: ast.expr, env: dict) -> str:
    names = sorted({n.id for n in ast.walk(test) if isinstance(n, ast.Name) and n.id.startswith(PLACEHOLDER)})
    return (" (got " + ", ".join(repr(env[n])[:80] for n in names) + ")") if names else ""


def _reversed(value):
    return list(reversed(value))


def _range(*args):
    found = range(*args)
    if len(found) > MAX_CALLS:
        raise ValueError(f"range longer than {MAX_CALLS}")
    return found


SAFE_FUNCS = {
    "abs": abs,
    "round": round,
    "len": len,
    "sorted": sorted,
    "set": set,
    "frozenset": frozenset,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "min": min,
    "max": max,
    "sum": sum,
    "all": all,
    "any": any,
    "isinstance": isinstance,
    "type": type,
    "reversed": _reversed,
    "range": _range,
}
SAFE_TYPES = {t.__name__: t for t in (int, float, str, bool, list, tuple, dict, set, frozenset)}
MATH_FUNCS = {"fabs": math.fabs, "isclose": math.isclose, "sqrt": math.sqrt, "floor": math.floor, "ceil": math.ceil}
MATH_CONSTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}
PLAIN = (int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set, frozenset, slice)
BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
UNARYOPS = {ast.USub: lambda v: -v, ast.UAdd: lambda v: +v, ast.Not: lambda v: not v, ast.Invert: lambda v: ~v}
CMPOPS = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def _guard_binop(op: ast.operator, a, b) -> None:
    """Refuse the few operations on small inputs with huge results (``10**10**9``, ``'x' * 10**12``)."""
    if isinstance(op, ast.Pow):
        if not isinstance(b, (int, float)) or isinstance(a, (int, float)) and (abs(b) > 4096 or abs(a) > 2**256):
            raise ValueError("exponent or base too large")
    if isinstance(op, ast.Mult):
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                raise ValueError("repetition too large")


def evaluate(node: ast.AST, env: dict):
    """The value of a test expression over plain data; any construct outside the closed set raises NotIOForm."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in SAFE_TYPES:
            return SAFE_TYPES[node.id]
        raise NotIOForm(f"line {node.lineno}: unknown name {node.id!r}")
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [evaluate(e, env) for e in node.elts]
        return {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise NotIOForm(f"line {node.lineno}: ** in a dict")
        return {evaluate(k, env): evaluate(v, env) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp):
        return UNARYOPS[type(node.op)](evaluate(node.operand, env))
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        left, right = evaluate(node.left, env), evaluate(node.right, env)
        _guard_binop(node.op, left, right)
        return BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.BoolOp):
        value = None
        for item in node.values:
            value = evaluate(item, env)
            if isinstance(node.op, ast.And) != bool(value):
                return value
        return value
    if isinstance(node, ast.Compare) and all(type(op) in CMPOPS for op in node.ops):
        left = evaluate(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = evaluate(comparator, env)
            if not CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return evaluate(node.body if evaluate(node.test, env) else node.orelse, env)
    if isinstance(node, ast.Subscript):
        return evaluate(node.value, env)[evaluate(node.slice, env)]
    if isinstance(node, ast.Slice):
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if p is None else evaluate(p, env) for p in parts))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math":
        if node.attr in MATH_CONSTS:
            return MATH_CONSTS[node.attr]
    if isinstance(node, ast.Call):
        return _call(node, env)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        values = _comprehension(node, env)
        return set(values) if isinstance(node, ast.SetComp) else values
    raise NotIOForm(f"line {getattr(node, 'lineno', '?')}: {type(node).__name__} is not supported")


def _comprehension(node: ast.ListComp | ast.SetComp | ast.GeneratorExp, env: dict) -> list:
    """One ``for NAME in ITERABLE if ...`` clause over plain data (what tests write to build an expected value)."""
    (loop,) = node.generators
    out, inner = [], dict(env)
    for value in evaluate(loop.iter, env):
        inner[loop.target.id] = value
        if all(evaluate(cond, inner) for cond in loop.ifs):
            out.append(evaluate(node.elt, inner))
    return out


def _call(node: ast.Call, env: dict):
    func = node.func
    if isinstance(func, ast.Name) and func.id in SAFE_FUNCS and func.id not in env:
        fn = SAFE_FUNCS[func.id]
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math":
        if func.attr not in MATH_FUNCS:
            raise NotIOForm(f"line {node.lineno}: math.{func.attr} is not supported")
        fn = MATH_FUNCS[func.attr]
    else:
        raise NotIOForm(f"line {node.lineno}: call of {ast.unparse(func)[:60]} is not supported")
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        raise NotIOForm(f"line {node.lineno}: * or ** arguments")
    args = [evaluate(a, env) for a in node.args]
    kwargs = {k.arg: evaluate(k.value, env) for k in node.keywords}
    if fn is isinstance and not all(isinstance(t, type) or isinstance(t, tuple) for t in args[1:]):
        raise ValueError("isinstance needs a type")
    return fn(*args, **kwargs)


STRUCTURE = (
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Subscript,
    ast.Slice,
    ast.expr_context,
    ast.unaryop,
    ast.boolop,
    ast.keyword,
)


def validate(expr: ast.expr, names: set) -> None:
    """Raise NotIOForm unless :func:`evaluate` can evaluate ``expr`` with ``names`` bound (checked before running)."""
    for node in ast.walk(expr):
        line = getattr(node, "lineno", "?")
        if isinstance(node, STRUCTURE) or type(node) in BINOPS or type(node) in CMPOPS:
            if isinstance(node, ast.UnaryOp) and type(node.op) not in UNARYOPS:
                raise NotIOForm(f"line {line}: operator {type(node.op).__name__}")
            if isinstance(node, ast.BinOp) and type(node.op) not in BINOPS:
                raise NotIOForm(f"line {line}: operator {type(node.op).__name__}")
            if isinstance(node, ast.Compare) and not all(type(op) in CMPOPS for op in node.ops):
                raise NotIOForm(f"line {line}: comparison not supported")
            if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
                raise NotIOForm(f"line {line}: ** in a dict")
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id not in SAFE_TYPES and node.id not in SAFE_FUNCS:
                raise NotIOForm(f"line {line}: unknown name {node.id!r}")
        elif isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "math"):
                raise NotIOForm(f"line {line}: attribute {ast.unparse(node)[:60]}")
            if node.attr not in MATH_FUNCS and node.attr not in MATH_CONSTS:
                raise NotIOForm(f"line {line}: math.{node.attr} is not supported")
            names = names | {"math"}  # the ast.Name under it
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            gens = node.generators
            if len(gens) != 1 or not isinstance(gens[0].target, ast.Name) or gens[0].is_async:
                raise NotIOForm(f"line {line}: only one plain for clause in a comprehension")
            names = names | {gens[0].target.id}
        elif isinstance(node, ast.comprehension):
            continue
        elif isinstance(node, ast.Call):
            func = node.func
            ok = isinstance(func, ast.Name) and func.id in SAFE_FUNCS and func.id not in names
            if not (ok or isinstance(func, ast.Attribute)):
                raise NotIOForm(f"line {line}: call of {ast.unparse(func)[:60]} is not supported")
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise NotIOForm(f"line {line}: * or ** arguments")
        else:
            raise NotIOForm(f"line {line}: {type(node).__name__} is not supported")


class _Reader:
    """Walks the test module: records calls of the program's functions and rewrites them into output names."""

    def __init__(self):
        self.calls: list[Call] = []
        self.steps: list[ast.stmt] = []
        self.env: dict = {}
        self.assigned: set = set()

    def names(self) -> set:
        return set(self.env) | self.assigned | {f"{PLACEHOLDER}{k}" for k in range(len(self.calls))}

    def program_call(self, node: ast.Call, targets: dict) -> ast.Name:
        name = node.func.id
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise NotIOForm(f"line {node.lineno}: * or ** arguments to {name}")
        try:
            args = tuple(evaluate(a, self.env) for a in node.args)
            kwargs = {k.arg: evaluate(k.value, self.env) for k in node.keywords}
        except NotIOForm as err:
            raise NotIOForm(f"arguments of {name}: {err}") from None
        except Exception as err:
            raise NotIOForm(f"line {node.lineno}: arguments of {name}: {type(err).__name__}: {err}") from None
        if len(self.calls) >= MAX_CALLS:
            raise NotIOForm(f"more than {MAX_CALLS} calls")
        self.calls.append(Call(targets.get(name, name), args, kwargs))
        return ast.copy_location(ast.Name(f"{PLACEHOLDER}{len(self.calls) - 1}", ast.Load()), node)

    def rewrite(self, expr: ast.expr, targets: dict) -> ast.expr:
        """``expr`` with each call of a program function replaced by the name of its output."""
        reader = self

        class Swap(ast.NodeTransformer):
            def visit_Call(self, node):
                func = node.func
                local = isinstance(func, ast.Name) and (func.id in reader.env or func.id in SAFE_FUNCS)
                if isinstance(func, ast.Name) and (func.id in targets or not local):
                    return reader.program_call(node, targets)
                self.generic_visit(node)
                return node

        return Swap().visit(copy.deepcopy(expr))  # a loop's body is rewritten once per step

    def statements(self, body: list[ast.stmt], targets: dict, checks: dict) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Constant, ast.Name)):
                continue  # a docstring, or a bare name such as HumanEval's ``print``
            if isinstance(stmt, ast.Assert):
                test = self.rewrite(stmt.test, targets)
                validate(test, self.names())
                self.steps.append(ast.copy_location(ast.Assert(test), stmt))
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = self.rewrite(stmt.value, targets)
                validate(value, self.names())
                self.assigned.add(stmt.targets[0].id)
                if not any(isinstance(n, ast.Name) and n.id.startswith(PLACEHOLDER) for n in ast.walk(value)):
                    self.env[stmt.targets[0].id] = evaluate(value, self.env)
                self.steps.append(ast.copy_location(ast.Assign([stmt.targets[0]], value), stmt))
            elif isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name) and not stmt.orelse:
                self.unroll(stmt, targets, checks)
            elif isinstance(stmt, ast.FunctionDef) and not targets and self._is_check(stmt):
                checks[stmt.name] = stmt
            elif isinstance(stmt, ast.Expr) and self._check_call(stmt.value, checks):
                check = checks[stmt.value.func.id]
                self.statements(check.body, {check.args.args[0].arg: stmt.value.args[0].id}, {})
            else:
                raise NotIOForm(f"line {stmt.lineno}: {type(stmt).__name__} statement")

    def unroll(self, loop: ast.For, targets: dict, checks: dict) -> None:
        """A ``for`` loop over a literal iterable (``range(2, 8)``): its body once per value, the value assigned."""
        validate(loop.iter, self.names())
        values = list(evaluate(loop.iter, self.env))
        if len(values) > MAX_CALLS:
            raise NotIOForm(f"line {loop.lineno}: loop of more than {MAX_CALLS} steps")
        name = loop.target.id
        for value in values:
            self.env[name] = value
            self.assigned.add(name)
            self.steps.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], ast.Constant(value)), loop))
            self.statements(loop.body, targets, checks)

    @staticmethod
    def _is_check(stmt: ast.FunctionDef) -> bool:
        a = stmt.args
        return len(a.args) == 1 and not (a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or stmt.decorator_list)

    @staticmethod
    def _check_call(value: ast.expr, checks: dict) -> bool:
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in checks):
            return False
        return len(value.args) == 1 and isinstance(value.args[0], ast.Name) and not value.keywords


def parse_io_tests(tests: str) -> IOTests:
    """The calls and assertions of ``tests``; raises NotIOForm when they are not input/output pairs."""
    try:
        tree = ast.parse(tests, "tests")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise NotIOForm(f"tests do not parse: {type(err).__name__}") from None
    reader = _Reader()
    try:
        reader.statements(tree.body, {}, {})
    except RecursionError:
        raise NotIOForm("tests nested too deeply") from None
    except NotIOForm:
        raise
    except Exception as err:  # a literal that does not evaluate (1/0 in an argument): not this form
        raise NotIOForm(f"{type(err).__name__}: {err}"[:200]) from None
    if not reader.calls:
        raise NotIOForm("the tests call no function of the program")
    if not any(isinstance(s, ast.Assert) for s in reader.steps):
        raise NotIOForm("the tests assert nothing")
    return IOTests(reader.calls, reader.steps, reader.env)
