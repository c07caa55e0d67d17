"""Finer skills of arithmetic questions, read off the expression (reasoning-gym keeps it in the question's metadata):
the operators, the operand size, the number of terms, and the steps that trip small models: carries, borrows and
negative numbers. STAT's profile over these can say "sums with a carry" where the generator alone says "chain_sum"."""

from __future__ import annotations

import json
import re

OPERATORS = {"+": "op:add", "-": "op:sub", "*": "op:mul", "/": "op:div"}


class _Expression:
    """A small recursive-descent reading of + - * / with parentheses and unary minus: the operands, the binary
    operators, whether a unary minus occurs, and the value."""

    def __init__(self, text: str):
        self.tokens = re.findall(r"\d+|[-+*/()]|\S", text)
        self.pos, self.numbers, self.operators, self.unary_minus = 0, [], [], False
        self.value = self.expr()
        if self.pos != len(self.tokens) or not self.numbers:
            raise ValueError(text)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end")
        self.pos += 1
        return token

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            self.operators.append(op)
            value = value + self.term() if op == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            self.operators.append(op)
            right = self.factor()
            value = value * right if op == "*" else (value / right if right else float("inf"))
        return value

    def factor(self) -> float:
        token = self.take()
        if token == "-":
            self.unary_minus = True
            return -self.factor()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise ValueError("unclosed parenthesis")
            return value
        if not token.isdigit():
            raise ValueError(token)
        self.numbers.append(int(token))
        return float(token)


def _has_carry(numbers: list[int]) -> bool:
    """Column addition of non-negative numbers carries somewhere."""
    carry, place = 0, 1
    while any(n >= place for n in numbers) or carry:
        column = sum(n // place % 10 for n in numbers) + carry
        if column >= 10:
            return True
        carry, place = column // 10, place * 10
    return False


def _has_borrow(a: int, b: int) -> bool:
    """Column subtraction a - b (a >= b >= 0) borrows somewhere."""
    borrow, place = 0, 1
    while b >= place or borrow:
        if a // place % 10 - borrow < b // place % 10:
            return True
        borrow, place = 0, place * 10
    return False


def arithmetic_subskills(expression: str) -> list[str]:
    """Sub-skill labels of one expression, e.g. ``"47 + 38"`` -> op:add, terms:2, digits:2, carry; [] when the
    expression is not integer arithmetic with + - * / and parentheses."""
    try:
        parsed = _Expression(expression)
    except ValueError:
        return []
    numbers, operators = parsed.numbers, parsed.operators
    if not operators:
        return []
    labels = sorted({OPERATORS[op] for op in operators})
    labels += [f"terms:{len(numbers)}", f"digits:{max(len(str(n)) for n in numbers)}"]
    if parsed.unary_minus or parsed.value < 0:
        labels.append("negatives")
    elif set(operators) == {"+"} and _has_carry(numbers):
        labels.append("carry")
    elif operators == ["-"] and _has_borrow(numbers[0], numbers[1]):
        labels.append("borrow")
    return labels


def reasoning_gym_skills(reference) -> list[str]:
    """The generator and the sub-skills of a reasoning-gym row's reference (JSON with datasource and metadata, as
    this project's reasoning-gym data writes it)."""
    data = json.loads(reference) if isinstance(reference, str) else reference
    expression = (data.get("metadata") or {}).get("expression")
    return [data.get("datasource", "unknown"), *(arithmetic_subskills(expression) if expression else [])]
