"""Label and field selectors: Kubernetes' string syntax, its metav1.LabelSelector form, matching.

Pure (no I/O). The API server uses it for `?labelSelector=` / `?fieldSelector=`, controllers and
clients use it to match objects in their caches.

Label selector string grammar (as kube-apiserver parses it):

    selector    := requirement ("," requirement)*      (the empty string selects everything)
    requirement := "!" KEY | KEY | KEY op VALUE | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
    op          := "=" | "==" | "!=" | ">" | "<"

Whitespace between tokens is ignored. KEY is a qualified name (optional DNS-1123 subdomain prefix
and "/", then a name of at most 63 characters); VALUE is empty or at most 63 characters of
[A-Za-z0-9._-] starting and ending with an alphanumeric. `>` and `<` need an integer value and
only match labels whose value is an integer.

A `nil` metav1.LabelSelector (None) selects nothing; an empty one (`{}`) selects everything.
That is upstream's rule; a Service's `spec.selector` map follows different rules (an empty map
means "no selector", not "everything") which its callers apply.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from knet.api.names import (
    label_value_errors,
    qualified_name_errors,
)

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "NOT_EQUALS",
    "NOT_IN",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "escape_field_value",
    "label_value_errors",
    "make_requirement",
    "parse_field_selector",
    "parse_label_selector",
    "qualified_name_errors",
    "selector_from_label_selector",
    "selector_from_set",
]

# Operator spellings of k8s.io/apimachinery/pkg/selection.
DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
IN = "in"
NOT_EQUALS = "!="
NOT_IN = "notin"
EXISTS = "exists"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST)
_ALL_OPERATORS = (*_OPERATORS, GREATER_THAN, LESS_THAN)


class SelectorError(ValueError):
    """A selector that cannot be parsed or is invalid. The message is meant for the user (400)."""


# ---------------------------------------------------------------------------------------------
# Label selectors


def _parse_int(text: str) -> int | None:
    # Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, nothing else.
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    n = int(text)
    return n if -(2**63) <= n < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector. Build validated ones with `make_requirement`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int(labels[self.key]), _parse_int(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{joined}"


def make_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """A validated Requirement (upstream NewRequirement's rules); values are sorted and deduped."""
    vals = tuple(sorted(set(values)))
    errs: list[str] = []
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(f"invalid label key {key!r}: " + "; ".join(key_errs))
    if operator in (IN, NOT_IN):
        if not vals:
            errs.append("for 'in', 'notin' operators, values set can't be empty")
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errs.append("exact-match compatibility requires one single value")
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errs.append("values set must be empty for exists and does not exist")
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errs.append("for 'Gt', 'Lt' operators, exactly one value is required")
        errs.extend(
            f"for 'Gt', 'Lt' operators, the value must be an integer, not {v!r}"
            for v in vals
            if _parse_int(v) is None
        )
    else:
        supported = ", ".join(f'"{o}"' for o in _ALL_OPERATORS)
        errs.append(f"unsupported operator {operator!r}: supported values: {supported}")
    for v in vals:
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(f"invalid label value {v!r} for key {key!r}: " + "; ".join(value_errs))
    if errs:
        raise SelectorError("; ".join(errs))
    return Requirement(key, operator, vals)


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements, kept sorted by key so that equal selectors compare equal.

    `selects_nothing` is upstream's `labels.Nothing()` (from a nil metav1.LabelSelector); its
    string form is "" like upstream's, which reads back as "everything", so do not round-trip it.
    """

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False

    def __post_init__(self) -> None:
        # Sorted here so that every construction path yields the canonical order.
        ordered = tuple(sorted(self.requirements, key=lambda r: r.key))
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls(())

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls((), selects_nothing=True)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.selects_nothing:
            return False
        have = labels if labels is not None else {}
        return all(r.matches(have) for r in self.requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.selects_nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have, when the selector pins it (useful for indexes)."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# Lexer --------------------------------------------------------------------------------------

_T_END = "end of string"
_T_IDENT = "identifier"
_SPECIAL_TOKENS = frozenset({"=", "==", "!", "!=", "(", ")", ",", ">", "<"})
_SPECIAL_CHARS = frozenset("=!(),><")
_KEYWORDS = frozenset({"in", "notin"})
_WHITESPACE = frozenset(" \t\r\n")


@dataclass(frozen=True)
class _Token:
    kind: str  # _T_END, _T_IDENT, a keyword, or a special token's own text
    text: str


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(_Token(_T_END, ""))
            return tokens
        if text[i] in _SPECIAL_CHARS:
            # Longest run of special characters that is still a known token ("!=" not "!" "=").
            j = i + 1
            while j < n and text[j] in _SPECIAL_CHARS and text[i : j + 1] in _SPECIAL_TOKENS:
                j += 1
            tokens.append(_Token(text[i:j], text[i:j]))
            i = j
            continue
        j = i
        while j < n and text[j] not in _SPECIAL_CHARS and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append(_Token(word if word in _KEYWORDS else _T_IDENT, word))
        i = j


class _LabelParser:
    def __init__(self, text: str) -> None:
        self._tokens = _lex(text)
        self._pos = 0

    def _peek(self, values: bool = True) -> _Token:
        return self._as_context(self._tokens[self._pos], values)

    def _next(self, values: bool = True) -> _Token:
        tok = self._tokens[self._pos]
        self._pos += 1
        return self._as_context(tok, values)

    @staticmethod
    def _as_context(tok: _Token, values: bool) -> _Token:
        # Where a value or key is expected, "in" and "notin" are ordinary words.
        if values and tok.kind in _KEYWORDS:
            return _Token(_T_IDENT, tok.text)
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        tok = self._peek()
        if tok.kind == _T_END:
            return reqs
        while True:
            tok = self._peek()
            if tok.kind not in (_T_IDENT, "!"):
                raise SelectorError(
                    f"found '{tok.text}', expected: !, identifier, or 'end of string'"
                )
            try:
                reqs.append(self._requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            after = self._next()
            if after.kind == _T_END:
                return reqs
            if after.kind != ",":
                raise SelectorError(f"found '{after.text}', expected: ',' or 'end of string'")
            following = self._peek()
            if following.kind not in (_T_IDENT, "!"):
                raise SelectorError(f"found '{following.text}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        tok = self._next()
        negated = tok.kind == "!"
        if negated:
            tok = self._next()
        if tok.kind != _T_IDENT:
            raise SelectorError(f"found '{tok.text}', expected: identifier")
        key = tok.text
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise SelectorError(f"invalid label key {key!r}: " + "; ".join(key_errs))
        if self._peek().kind in (_T_END, ","):
            return make_requirement(key, DOES_NOT_EXIST if negated else EXISTS)
        if negated:
            # "!key" is unary; anything after it is a syntax error.
            raise SelectorError(f"found '{self._peek().text}', expected: ',' or 'end of string'")
        op_tok = self._next(values=False)
        op = {
            "in": IN,
            "notin": NOT_IN,
            "=": EQUALS,
            "==": DOUBLE_EQUALS,
            "!=": NOT_EQUALS,
            ">": GREATER_THAN,
            "<": LESS_THAN,
        }.get(op_tok.kind)
        if op is None:
            raise SelectorError(
                f"found '{op_tok.text}', expected: '=', '!=', '==', 'in', 'notin', '>' or '<'"
            )
        values = self._set_values() if op in (IN, NOT_IN) else self._exact_value()
        return make_requirement(key, op, values)

    def _exact_value(self) -> list[str]:
        tok = self._peek()
        if tok.kind in (_T_END, ","):
            return [""]  # "key=" selects an empty value, as upstream
        tok = self._next()
        if tok.kind != _T_IDENT:
            raise SelectorError(f"found '{tok.text}', expected: identifier")
        return [tok.text]

    def _set_values(self) -> list[str]:
        tok = self._next()
        if tok.kind != "(":
            raise SelectorError(f"found '{tok.text}', expected: '('")
        values: list[str] = []
        expect_value = True  # an omitted value between commas is the empty string
        while True:
            tok = self._next()
            if tok.kind == ")":
                if expect_value:
                    values.append("")
                return values
            if tok.kind == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if tok.kind == _T_IDENT and expect_value:
                values.append(tok.text)
                expect_value = False
                continue
            shown = tok.text if tok.kind != _T_END else "end of string"
            raise SelectorError(f"found '{shown}', expected: ',', ')' or identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse `?labelSelector=` text. The empty (or all-blank) string selects everything."""
    return LabelSelector(tuple(_LabelParser(text).parse()))


_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def selector_from_label_selector(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector dict as a selector: None selects nothing, {} everything."""
    if sel is None:
        return LabelSelector.nothing()
    if not isinstance(sel, Mapping):
        raise SelectorError(f"a label selector must be an object, not {type(sel).__name__}")
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a map of strings")
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    reqs: list[Requirement] = []
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError("matchLabels must be a map of strings")
        reqs.append(make_requirement(key, EQUALS, [value]))
    for i, expr in enumerate(expressions):
        if not isinstance(expr, Mapping):
            raise SelectorError(f"matchExpressions[{i}] must be an object")
        key, raw_op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        op = _EXPRESSION_OPERATORS.get(raw_op) if isinstance(raw_op, str) else None
        if op is None:
            raise SelectorError(f'"{raw_op}" is not a valid label selector operator')
        if not isinstance(key, str):
            raise SelectorError(f"matchExpressions[{i}].key must be a string")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"matchExpressions[{i}].values must be a list of strings")
        reqs.append(make_requirement(key, op, values))
    return LabelSelector(tuple(reqs))


def selector_from_set(labels: Mapping[str, str]) -> LabelSelector:
    """Equality on every pair (a Service's `spec.selector`). Not validated, as upstream's
    SelectorFromSet; an empty map gives a selector that matches everything."""
    return LabelSelector(tuple(Requirement(k, EQUALS, (v,)) for k, v in labels.items()))


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """upstream labels.FormatLabels: ``k=v`` pairs sorted by key, ``<none>`` when empty."""
    pairs = {str(k): str(v) for k, v in (labels or {}).items()}
    return str(selector_from_set(pairs)) or "<none>"


def label_selector_string(sel: Mapping[str, Any] | None) -> str:
    """metav1.LabelSelectorAsSelector(sel).String(): "" for a nil or empty selector (kubectl
    shows both so); SelectorError when it is invalid."""
    if not sel:
        return ""
    return str(selector_from_label_selector(sel))


def format_label_selector(sel: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: ``<none>`` when empty, ``<error>`` when invalid."""
    try:
        return label_selector_string(sel) or "<none>"
    except SelectorError:
        return "<error>"


# ---------------------------------------------------------------------------------------------
# Field selectors

_FIELD_OPERATORS = ("!=", "==", "=")  # tried in this order at each position, as upstream


def escape_field_value(value: str) -> str:
    """Escape `\\`, `,` and `=` so that a value survives a round trip through the syntax."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise SelectorError("invalid field selector: invalid escape sequence: \\")
            if nxt not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
        elif c in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {c}")
        else:
            out.append(c)
    return "".join(out)


def _split_unescaped_commas(text: str) -> Iterator[str]:
    start, escaped = 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            yield text[start:i]
            start = i + 1
    yield text[start:]


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _FIELD_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


@dataclass(frozen=True)
class FieldSelector:
    """An AND of `field op value` terms, op one of "=", "==", "!=". A field missing from the
    object's field set counts as the empty string, as upstream."""

    terms: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(sorted(self.terms)))

    def matches(self, fields: Mapping[str, str]) -> bool:
        for name, op, value in self.terms:
            have = fields.get(name, "")
            if (have == value) != (op in ("=", "==")):
                return False
        return True

    def requirements(self) -> tuple[tuple[str, str, str], ...]:
        return self.terms

    def empty(self) -> bool:
        return not self.terms

    def requires_exact_match(self, name: str) -> str | None:
        """The value `name` must equal, when a term pins it (e.g. spec.nodeName for kubelets)."""
        for field_name, op, value in self.terms:
            if field_name == name and op in ("=", "=="):
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in self.terms)


def parse_field_selector(text: str, allowed: Collection[str]) -> FieldSelector:
    """Parse `?fieldSelector=` text; every field must be in `allowed` (callers include
    metadata.name and metadata.namespace, which every kind supports upstream)."""
    terms: list[tuple[str, str, str]] = []
    for part in _split_unescaped_commas(text):
        if not part.strip():
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, raw = split
        name = name.strip()
        if name not in allowed:
            raise SelectorError(f"field label not supported: {name}")
        terms.append((name, op, _unescape_field_value(raw)))
    return FieldSelector(tuple(terms))
