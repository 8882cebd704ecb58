"""Group arithmetic tasks with one-hot operands (the CoGS / scaling-law setting).

A task maps a tuple ``(a_1, …, a_k)`` of ``k = num_operands >= 2`` *symbols* ``0..M−1`` to a
result symbol. Kinds (``ArithmeticTask.kind``):

* ``"compose"`` — the group law of a :class:`~groupcomp.groups.FiniteGroup`: result
  ``a_1·a_2⋯a_k`` (ordered product, ``a_1`` leftmost; symbol = element index). For ``Z_M`` this
  is modular addition, the setting of P3 (Y. Tian, "Composing Global Solutions to Reasoning Tasks
  via Algebraic Objects in Neural Nets", arXiv 2410.01779) and P4 (arXiv 2509.21519).
* ``"mul"`` — multiplication modulo a prime ``p`` on the **non-zero residues**, i.e. the cyclic
  group ``(Z/p)^×`` of order ``M = p − 1``. Symbol ``i`` is the residue ``i + 1`` (so symbol 0 is
  the residue 1, the identity, as everywhere in groupcomp).
* ``"mul_all"`` — multiplication modulo ``p`` on **all** residues ``0..p−1`` (symbol = residue).
  Not a group (0 has no inverse); no Fourier analysis is attached to it.
* ``"expr"`` — a polynomial such as ``x^2+xy+y^2`` evaluated over ``Z_M`` (symbol = residue),
  parsed by the small recursive-descent parser of this module (never ``eval``).

Each task knows its :attr:`~ArithmeticTask.operand_group`: the group whose Fourier transform is
used to analyse the learned input weights (the group itself for ``compose``, ``(Z/p)^×`` for
``mul``, the additive group ``Z_M`` for ``expr``; ``None`` for ``mul_all``).

Splits (:func:`split_counts`, :func:`make_split`): all ``M^k`` tuples are enumerated in
lexicographic order, shuffled with a seeded generator, and the first ``n_train`` are the training
set. ``n_train`` is either ``round(train_fraction · M^k)`` or the *critical count* of P4 §"scaling
law" (docs/theory.md §6) times a multiplicative ``offset``::

    n_c = c · M · ln M · corr,    c = 2.7482 (default),
    corr = d_max / 2 for non-abelian operand groups (d_max = largest complex irrep degree), else 1.

For ``M = 23`` this is ``≈ 198`` of 529 pairs (37.5 %), for ``M = 71`` 832 of 5041 (16.5 %). The
rule was derived for pairs (``k = 2``); for ``k > 2`` the same count is used (it is then a much
smaller fraction of the ``M^k`` tuples) — a choice of this toolkit, not a result of P4.

Targets: class indices (cross-entropy) or centred one-hot vectors ``e_c − 1/M`` (MSE with the
zero-mean projection ``P^⊥ = I − 11^T/M`` of P3, docs/theory.md §5.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from groupcomp.errors import ConfigError, GroupcompError
from groupcomp.groups.core import FiniteGroup

__all__ = [
    "ARITH_OPS",
    "CRITICAL_C",
    "VARIABLES",
    "ArithmeticTask",
    "Expression",
    "Split",
    "centred_onehot",
    "critical_count",
    "make_split",
    "make_task",
    "parse_expression",
    "split_counts",
]

#: task kinds accepted by :func:`make_task` (``auto`` = ``expr`` if an expression is given,
#: else ``compose``)
ARITH_OPS: tuple[str, ...] = ("auto", "compose", "mul", "mul_all", "expr")
#: P4's default ``critical_ratio_multiplier`` (docs/theory.md §6)
CRITICAL_C = 2.7482
#: expression variables, in operand order: ``x`` is operand 1, ``y`` operand 2, …
VARIABLES: tuple[str, ...] = ("x", "y", "z", "w", "u", "v")
#: largest number of tuples ``M^k`` a task will enumerate
MAX_TUPLES = 4_000_000
#: largest exponent allowed in an expression (exponents are evaluated exactly, then mod M)
MAX_EXPONENT = 10**9


# =============================================================================================
# polynomial expressions: tokenizer + recursive-descent parser (no eval)
# =============================================================================================

# AST nodes are tuples: ("num", int) | ("var", index) | ("neg", a) | ("add"|"sub"|"mul", a, b)
# | ("pow", a, exponent_int)
_Node = tuple


@dataclass(frozen=True)
class _Tok:
    kind: str  # "num" | "var" | "op" | "end"
    text: str
    pos: int


#: longest expression text, most nesting levels (parentheses, signs, exponents), deepest parse
#: tree, longest number: the parser and evaluator are recursive and must stay far from Python's
#: recursion limit
MAX_EXPRESSION_LENGTH = 1000
MAX_NESTING = 50
MAX_TREE_DEPTH = 200
MAX_NUMBER_DIGITS = 30


def _expr_error(source: str, pos: int, problem: str, key: str) -> ConfigError:
    shown = repr(source) if len(source) <= 80 else repr(source[:77] + "...")
    return ConfigError(
        f"{key}: cannot parse expression {shown} at position {pos}: {problem}; allowed: "
        f"integers, variables {', '.join(VARIABLES)} (x = operand 1, y = operand 2, ...), "
        f"+ - * ^ (or **), parentheses; juxtaposition multiplies (xy = x*y, 2x = 2*x)"
    )


_DIGITS = frozenset("0123456789")


def _tokenize(source: str, key: str) -> list[_Tok]:
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise _expr_error(
            source, MAX_EXPRESSION_LENGTH, f"longer than {MAX_EXPRESSION_LENGTH} characters", key
        )
    toks: list[_Tok] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _DIGITS:  # ASCII only: '²'.isdigit() is true but int('²') fails
            j = i
            while j < n and source[j] in _DIGITS:
                j += 1
            if j - i > MAX_NUMBER_DIGITS:
                raise _expr_error(
                    source, i, f"a number of {j - i} digits (at most {MAX_NUMBER_DIGITS})", key
                )
            toks.append(_Tok("num", source[i:j], i))
            i = j
            continue
        if ch.isalpha() or ch == "_":
            if ch in VARIABLES:
                toks.append(_Tok("var", ch, i))
                i += 1
                continue
            j = i
            while j < n and (source[j].isalnum() or source[j] == "_"):
                j += 1
            raise _expr_error(
                source,
                i,
                f"unknown name {source[i:j]!r} (variables are single letters "
                f"{', '.join(VARIABLES)})",
                key,
            )
        if source.startswith("**", i):
            toks.append(_Tok("op", "^", i))
            i += 2
            continue
        if ch in "+-*^()":
            toks.append(_Tok("op", ch, i))
            i += 1
            continue
        raise _expr_error(source, i, f"unexpected character {ch!r}", key)
    toks.append(_Tok("end", "", n))
    return toks


class _Parser:
    """Grammar (precedence low → high; ``^`` is right-associative and binds tighter than unary
    minus, so ``-x^2 = -(x^2)``)::

        expr  := term (("+" | "-") term)*
        term  := unary (("*")? unary)*          juxtaposition = multiplication
        unary := ("+" | "-") unary | power
        power := atom ("^" unary)?              exponent: constant integer >= 0
        atom  := NUMBER | VARIABLE | "(" expr ")"
    """

    def __init__(self, source: str, key: str) -> None:
        self.source = source
        self.key = key
        self.toks = _tokenize(source, key)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, tok: _Tok, problem: str) -> ConfigError:
        return _expr_error(self.source, tok.pos, problem, self.key)

    def describe(self, tok: _Tok) -> str:
        return "end of expression" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "empty expression")
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(tok, f"unexpected {self.describe(tok)}")
        if _tree_depth(node) > MAX_TREE_DEPTH:
            raise self.fail(
                self.toks[0], f"more than {MAX_TREE_DEPTH} nested operations; simplify it"
            )
        return node

    def expr(self) -> _Node:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            rhs = self.term()
            node = ("add" if op == "+" else "sub", node, rhs)
        return node

    def _starts_atom(self, tok: _Tok) -> bool:
        return tok.kind in ("num", "var") or (tok.kind == "op" and tok.text == "(")

    def term(self) -> _Node:
        node = self.unary()
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == "*":
                self.take()
                node = ("mul", node, self.unary())
            elif self._starts_atom(tok):
                node = ("mul", node, self.unary())
            else:
                return node

    def unary(self) -> _Node:
        # every nesting (parentheses, signs, exponents) passes through here
        tok = self.peek()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(tok, f"nested more than {MAX_NESTING} levels deep")
        try:
            if tok.kind == "op" and tok.text in "+-":
                self.take()
                inner = self.unary()
                return ("neg", inner) if tok.text == "-" else inner
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> _Node:
        base = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text == "^":
            self.take()
            etok = self.peek()
            if not (self._starts_atom(etok) or (etok.kind == "op" and etok.text in "+-")):
                raise self.fail(
                    etok,
                    f"expected an exponent (a number or a parenthesised constant) after '^', "
                    f"got {self.describe(etok)}",
                )
            exp_node = self.unary()
            if _tree_depth(exp_node) > MAX_TREE_DEPTH:
                raise self.fail(etok, f"more than {MAX_TREE_DEPTH} nested operations")
            if _variables(exp_node):
                raise self.fail(etok, "exponents must be constant (no variables)")
            e = _const_value(exp_node)
            if e < 0:
                raise self.fail(etok, f"negative exponent {e} (modular inverses not supported)")
            if e > MAX_EXPONENT:
                raise self.fail(etok, f"exponent {e} is larger than {MAX_EXPONENT}")
            return ("pow", base, e)
        return base

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return ("num", int(tok.text))
        if tok.kind == "var":
            return ("var", VARIABLES.index(tok.text))
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            close = self.peek()
            if not (close.kind == "op" and close.text == ")"):
                raise self.fail(close, f"expected ')' to close the '(' at position {tok.pos}")
            self.take()
            return node
        raise self.fail(tok, f"expected a number, a variable or '(', got {self.describe(tok)}")


def _tree_depth(node: _Node) -> int:
    """Depth of a parse tree, computed without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        nd, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in nd[1:] if isinstance(child, tuple))
    return deepest


def _variables(node: _Node) -> set[int]:
    kind = node[0]
    if kind == "var":
        return {node[1]}
    if kind == "num":
        return set()
    if kind in ("neg", "pow"):
        return _variables(node[1])
    return _variables(node[1]) | _variables(node[2])


def _const_value(node: _Node) -> int:
    """Exact integer value of a variable-free node (used for exponents; kept small)."""
    kind = node[0]
    if kind == "num":
        return int(node[1])
    if kind == "neg":
        return -_const_value(node[1])
    if kind == "pow":
        b = _const_value(node[1])
        if abs(b) > 1 and node[2] * math.log2(abs(b)) > 64:
            return MAX_EXPONENT + 1
        return b ** node[2]
    a, b = _const_value(node[1]), _const_value(node[2])
    return a + b if kind == "add" else a - b if kind == "sub" else a * b


def _powmod(base: np.ndarray, e: int, m: int) -> np.ndarray:
    result = np.ones_like(base) % m
    b = base % m
    while e > 0:
        if e & 1:
            result = (result * b) % m
        b = (b * b) % m
        e >>= 1
    return result


def _evaluate(node: _Node, values: Sequence[np.ndarray], m: int) -> np.ndarray:
    kind = node[0]
    if kind == "num":
        return np.asarray(node[1] % m, dtype=np.int64)
    if kind == "var":
        return np.asarray(values[node[1]], dtype=np.int64) % m
    if kind == "neg":
        return (-_evaluate(node[1], values, m)) % m
    if kind == "pow":
        return _powmod(_evaluate(node[1], values, m), int(node[2]), m)
    a, b = _evaluate(node[1], values, m), _evaluate(node[2], values, m)
    if kind == "add":
        return (a + b) % m
    if kind == "sub":
        return (a - b) % m
    return (a * b) % m


def _to_text(node: _Node) -> str:
    kind = node[0]
    if kind == "num":
        return str(node[1])
    if kind == "var":
        return VARIABLES[node[1]]
    if kind == "neg":
        return f"(-{_to_text(node[1])})"
    if kind == "pow":
        return f"{_to_text(node[1])}^{node[2]}"
    sym = {"add": "+", "sub": "-", "mul": "*"}[kind]
    return f"({_to_text(node[1])}{sym}{_to_text(node[2])})"


class Expression:
    """A parsed polynomial expression over ``Z_M`` (see :func:`parse_expression`).

    Attributes:
        source: the original text.
        num_variables: ``1 +`` the largest variable index used (``x^2+xy+y^2`` → 2).
        variables: sorted variable indices used.
    """

    def __init__(self, source: str, tree: _Node) -> None:
        self.source = source
        self._tree = tree
        self.variables = tuple(sorted(_variables(tree)))
        self.num_variables = (max(self.variables) + 1) if self.variables else 0

    def evaluate(self, values: Sequence[Any] | np.ndarray, modulus: int) -> np.ndarray:
        """Value mod ``modulus``; ``values[j]`` holds operand ``j`` (``x`` = 0, ``y`` = 1, …),
        arrays broadcast. A ``(..., k)`` array is read along its last axis."""
        if isinstance(values, np.ndarray) and values.ndim >= 1:
            cols = [values[..., j] for j in range(values.shape[-1])]
        else:
            cols = [np.asarray(v) for v in values]
        if len(cols) < self.num_variables:
            raise ValueError(
                f"expression {self.source!r} needs {self.num_variables} operands, got {len(cols)}"
            )
        return _evaluate(self._tree, cols, int(modulus))

    def canonical(self) -> str:
        """Fully parenthesised form (shows how the expression was parsed)."""
        return _to_text(self._tree)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def parse_expression(source: str, *, key: str = "expression") -> Expression:
    """Parse a polynomial such as ``"x^2+xy+y^2"`` (no ``eval``).

    Raises:
        ConfigError: naming ``key``, the expression and the position of the problem.
    """
    if not isinstance(source, str):
        raise ConfigError(f"{key}: expected a string, got {source!r}")
    return Expression(source, _Parser(source, key).parse())


# =============================================================================================
# tasks
# =============================================================================================


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    return all(p % q for q in range(2, int(math.isqrt(p)) + 1))


class ArithmeticTask:
    """All ``M^k`` tuples of symbols and their results.

    Build with :func:`make_task` (from a group spec) or the classmethods.

    Attributes:
        kind: ``"compose"``, ``"mul"``, ``"mul_all"`` or ``"expr"``.
        name: e.g. ``"Z23 compose"``, ``"x^2+xy+y^2 mod 23"``.
        M: number of symbols (= number of output classes).
        num_operands: ``k``.
        num_tuples: ``M^k``.
        operand_group: group on the symbols used for Fourier analysis, or ``None``.
        group: the group for ``compose`` (else ``None``).
        expression: the parsed :class:`Expression` for ``expr`` (else ``None``).
        modulus: ``p`` for ``mul`` / ``mul_all``, ``M`` for ``expr`` (else ``None``).
    """

    def __init__(
        self,
        kind: str,
        M: int,
        num_operands: int,
        *,
        name: str,
        group: FiniteGroup | None = None,
        operand_group: FiniteGroup | None = None,
        expression: Expression | None = None,
        modulus: int | None = None,
    ) -> None:
        k = num_operands
        if isinstance(k, bool) or int(k) != k or k < 2:
            raise ConfigError(f"ArithmeticTask: num_operands must be an integer >= 2, got {k!r}")
        if M < 1:
            raise ConfigError(f"ArithmeticTask: M (number of symbols) must be >= 1, got {M}")
        if M ** int(k) > MAX_TUPLES:
            raise ConfigError(
                f"ArithmeticTask: M^num_operands = {M}^{k} = {M ** int(k)} tuples is more than "
                f"MAX_TUPLES = {MAX_TUPLES}; use fewer operands or fewer symbols"
            )
        self.kind = kind
        self.M = int(M)
        self.num_operands = int(k)
        self.num_tuples = self.M**self.num_operands
        self.name = name
        self.group = group
        self.operand_group = operand_group
        self.expression = expression
        self.modulus = modulus
        self._results: np.ndarray | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def compose(cls, G: FiniteGroup, num_operands: int = 2) -> ArithmeticTask:
        """``a_1·a_2⋯a_k`` in ``G`` (modular addition for ``Z_M``)."""
        return cls(
            "compose", G.order, num_operands, name=f"{G.name} compose", group=G, operand_group=G
        )

    @classmethod
    def mul(cls, p: int, num_operands: int = 2, *, include_zero: bool = False) -> ArithmeticTask:
        """Multiplication mod a prime ``p``: on ``(Z/p)^×`` (symbol ``i`` = residue ``i+1``), or
        on all residues ``0..p−1`` with ``include_zero`` (any modulus ``p >= 2`` then)."""
        p = int(p)
        if include_zero:
            if p < 2:
                raise ConfigError(
                    f"ArithmeticTask.mul: p must be >= 2 with include_zero=True, got {p}"
                )
            return cls("mul_all", p, num_operands, name=f"mul mod {p} (all residues)", modulus=p)
        if not _is_prime(p):
            raise ConfigError(
                f"ArithmeticTask.mul: p must be a prime (the non-zero residues mod {p} are not "
                f"a group), got {p}; use a prime such as 23, or include_zero=True"
            )
        if p < 3:
            raise ConfigError(
                f"ArithmeticTask.mul: p must be a prime >= 3 (p = 2 leaves one symbol), got {p}"
            )
        res = np.arange(1, p)
        table = (np.multiply.outer(res, res) % p) - 1  # symbol = residue - 1
        from groupcomp.groups.constructors import from_table

        Gm = from_table(table, name=f"(Z/{p})^x", labels=[str(r) for r in res])
        return cls("mul", p - 1, num_operands, name=f"mul mod {p}", operand_group=Gm, modulus=p)

    @classmethod
    def expr(cls, expression: str | Expression, M: int, num_operands: int = 2) -> ArithmeticTask:
        """A polynomial over ``Z_M`` (symbol = residue)."""
        e = parse_expression(expression) if isinstance(expression, str) else expression
        if e.num_variables > num_operands:
            raise ConfigError(
                f"ArithmeticTask.expr: expression {e.source!r} uses variable "
                f"{VARIABLES[e.num_variables - 1]!r} (operand {e.num_variables}) but "
                f"num_operands = {num_operands}"
            )
        from groupcomp.groups.constructors import cyclic

        return cls(
            "expr",
            int(M),
            num_operands,
            name=f"{e.source} mod {M}",
            operand_group=cyclic(int(M)),
            expression=e,
            modulus=int(M),
        )

    # ------------------------------------------------------------------ data
    def tuples(self) -> torch.Tensor:
        """All ``M^k`` tuples in lexicographic order (last operand fastest): ``(M^k, k)``."""
        grids = np.indices((self.M,) * self.num_operands).reshape(self.num_operands, -1).T
        return torch.from_numpy(np.ascontiguousarray(grids, dtype=np.int64))

    def result_of(self, tuples: np.ndarray | torch.Tensor) -> np.ndarray:
        """Result symbol of each tuple: ``(..., k)`` → ``(...)`` int64 (computed directly)."""
        a = np.asarray(tuples.cpu() if isinstance(tuples, torch.Tensor) else tuples)
        a = a.astype(np.int64)
        if a.shape[-1] != self.num_operands:
            raise ValueError(f"tuples must end with k = {self.num_operands}, got {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= self.M):
            raise ValueError(f"tuples hold symbols outside 0..{self.M - 1}")
        if self.kind == "compose":
            assert self.group is not None
            return self.group.product_of(a)
        if self.kind == "expr":
            assert self.expression is not None
            return self.expression.evaluate(a, self.M).astype(np.int64)
        p = int(self.modulus)  # type: ignore[arg-type]
        vals = a + 1 if self.kind == "mul" else a
        acc = vals[..., 0] % p
        for j in range(1, self.num_operands):
            acc = (acc * vals[..., j]) % p
        return acc - 1 if self.kind == "mul" else acc

    def results(self) -> torch.Tensor:
        """Results of :meth:`tuples`, ``(M^k,)`` int64 (cached)."""
        if self._results is None:
            self._results = self.result_of(self.tuples().numpy())
        return torch.from_numpy(self._results)

    def targets(self, tuples: torch.Tensor) -> torch.Tensor:
        """Class targets for a LongTensor of tuples ``(..., k)`` → ``(...)``."""
        flat = torch.zeros(tuples.shape[:-1], dtype=torch.long, device=tuples.device)
        stride = 1
        for j in range(self.num_operands - 1, -1, -1):
            flat = flat + tuples[..., j] * stride
            stride *= self.M
        return self.results().to(tuples.device)[flat]

    def __repr__(self) -> str:
        return (
            f"ArithmeticTask({self.name!r}, kind={self.kind!r}, M={self.M}, "
            f"num_operands={self.num_operands})"
        )


def _cyclic_modulus(G: FiniteGroup, spec: str, op: str) -> int:
    cf = G.cyclic_factors
    if cf is None or len(cf) != 1:
        raise ConfigError(
            f"make_task: op={op!r} needs group = a cyclic group Z<M> naming the modulus "
            f"(e.g. 'Z23'), got {spec!r}"
        )
    return int(cf[0])


def resolve_op(op: str, expression: str | None) -> str:
    """``auto`` → ``expr`` if an expression is given, else ``compose``."""
    if op not in ARITH_OPS:
        raise ConfigError(f"resolve_op: op must be one of {', '.join(ARITH_OPS)}; got {op!r}")
    if op == "auto":
        return "expr" if expression else "compose"
    return op


def make_task(
    group: str | FiniteGroup,
    *,
    op: str = "auto",
    expression: str | None = None,
    num_operands: int = 2,
) -> ArithmeticTask:
    """Build a task from a group spec (``groupcomp.groups.parse``) or a group.

    ``op=compose`` uses the group law; ``mul``, ``mul_all`` and ``expr`` need a cyclic group
    ``Z<M>`` whose order is the modulus.

    Raises:
        ConfigError: naming ``group``, ``op``, ``expression`` or ``num_operands``.
    """
    from groupcomp.groups import parse

    if isinstance(group, FiniteGroup):
        G, spec = group, group.name
    else:
        spec = str(group)
        try:
            G = parse(spec)
        except GroupcompError as exc:
            raise ConfigError(f"make_task: group is not a valid group spec: {exc}") from None
    kind = resolve_op(op, expression)
    if expression and kind != "expr":
        raise ConfigError(
            f"make_task: expression is only used with op='expr' (or 'auto'), got op={op!r}"
        )
    if kind == "compose":
        return ArithmeticTask.compose(G, num_operands)
    M = _cyclic_modulus(G, spec, kind)
    if kind == "mul" and not (M >= 3 and _is_prime(M)):
        raise ConfigError(
            f"make_task: op='mul' needs group = Z<p> with p a prime >= 3 (the non-zero residues "
            f"mod p form a group only then), got {spec!r}; use a prime such as 'Z23', or "
            "op='mul_all'"
        )
    if kind == "mul_all" and M < 2:
        raise ConfigError(f"make_task: op='mul_all' needs group = Z<M> with M >= 2, got {spec!r}")
    if kind == "expr":
        if not expression:
            raise ConfigError(
                "make_task: expression is required with op='expr' (e.g. 'x^2+xy+y^2')"
            )
        return ArithmeticTask.expr(expression, M, num_operands)
    return ArithmeticTask.mul(M, num_operands, include_zero=(kind == "mul_all"))


# =============================================================================================
# splits
# =============================================================================================


def critical_count(M: int, c: float = CRITICAL_C, correction: float = 1.0) -> float:
    """P4's critical number of training samples ``c · M · ln M · correction``.

    See docs/theory.md §6.
    """
    return float(c) * M * math.log(M) * float(correction) if M > 1 else 0.0


def nonabelian_correction(G: FiniteGroup | None) -> float:
    """``d_max / 2`` for a non-abelian group (``d_max`` = largest complex irrep degree), else 1."""
    if G is None or G.is_abelian:
        return 1.0
    return max(r.dim for r in G.complex_irreps()) / 2.0


@dataclass(frozen=True)
class SplitCounts:
    """Sizes of a split (see :func:`split_counts`)."""

    mode: str
    n_total: int
    n_train: int
    n_test: int
    critical_count: float
    correction: float

    @property
    def train_fraction(self) -> float:
        return self.n_train / self.n_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "n_total": self.n_total,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "train_fraction": self.train_fraction,
            "critical_count": self.critical_count,
            "critical_fraction": self.critical_count / self.n_total,
            "correction": self.correction,
        }


def split_counts(
    task: ArithmeticTask,
    mode: str = "fraction",
    *,
    train_fraction: float = 0.9,
    c: float = CRITICAL_C,
    offset: float = 1.0,
    correction: bool = True,
) -> SplitCounts:
    """Train/test sizes.

    * ``mode="fraction"``: ``n_train = round(train_fraction · M^k)``.
    * ``mode="critical"``: ``n_train = round(offset · c · M · ln M · corr)`` with
      ``corr = d_max/2`` for a non-abelian operand group when ``correction`` (else 1).

    Raises:
        ConfigError: naming ``mode``, ``train_fraction``, ``c`` or ``offset`` when the values
            are invalid or leave an empty train or test set.
    """
    N = task.num_tuples
    corr = nonabelian_correction(task.operand_group) if correction else 1.0
    crit = critical_count(task.M, c, corr)
    if mode == "fraction":
        if not (isinstance(train_fraction, int | float) and 0 < train_fraction < 1):
            raise ConfigError(
                f"split_counts: train_fraction must be in (0, 1), got {train_fraction!r}"
            )
        n = int(round(train_fraction * N))
        if not 1 <= n <= N - 1:
            raise ConfigError(
                f"split_counts: train_fraction = {train_fraction} of {N} tuples gives {n} "
                f"training tuples; need between 1 and {N - 1}"
            )
    elif mode == "critical":
        if not (math.isfinite(c) and c > 0):
            raise ConfigError(f"split_counts: c must be a number > 0, got {c!r}")
        if not (math.isfinite(offset) and offset > 0):
            raise ConfigError(f"split_counts: offset must be a number > 0, got {offset!r}")
        n = int(round(offset * crit))
        if not 1 <= n <= N - 1:
            raise ConfigError(
                f"split_counts: offset = {offset} x critical count {crit:.1f} = {n} training "
                f"tuples, but {task.name} has {N} tuples; need between 1 and {N - 1} "
                f"(lower offset or c, or use mode='fraction')"
            )
    else:
        raise ConfigError(f"split_counts: mode must be one of fraction, critical; got {mode!r}")
    return SplitCounts(mode, N, n, N - n, crit, corr)


@dataclass
class Split:
    """Per-ensemble-member train/test tuples.

    Attributes:
        counts: the sizes.
        train_idx, test_idx: ``(S, n_train)`` / ``(S, n_test)`` indices into ``task.tuples()``.
        train, test: ``(S, n, k)`` LongTensor tuples.
        train_y, test_y: ``(S, n)`` class targets.
    """

    counts: SplitCounts
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor
    train_y: torch.Tensor
    test_y: torch.Tensor


def make_split(task: ArithmeticTask, counts: SplitCounts, seeds: Sequence[int]) -> Split:
    """Shuffle all tuples with ``torch.Generator().manual_seed(seed)`` for each seed; the first
    ``n_train`` are the training set. Member ``s`` uses ``seeds[s]`` (pass the same seed
    repeatedly for a shared split)."""
    tuples, results = task.tuples(), task.results()
    perms = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        perms.append(torch.randperm(task.num_tuples, generator=gen))
    perm = torch.stack(perms)
    tr, te = perm[:, : counts.n_train], perm[:, counts.n_train :]
    return Split(counts, tr, te, tuples[tr], tuples[te], results[tr], results[te])


def centred_onehot(y: torch.Tensor, M: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``e_y − 1/M`` (= ``P^⊥ e_y`` with ``P^⊥ = I − 11^T/M``): ``(...)`` → ``(..., M)``."""
    return torch.nn.functional.one_hot(y, M).to(dtype) - 1.0 / M
