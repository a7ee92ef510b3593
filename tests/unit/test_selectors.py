"""Label and field selectors: parsing, matching, canonical strings, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knet.api.selectors import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    IN,
    NOT_IN,
    LabelSelector,
    Requirement,
    SelectorError,
    format_label_selector,
    format_labels,
    label_selector_string,
    make_requirement,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
    selector_from_set,
)

WEB = {"app": "web", "tier": "front", "version": "3"}
DB = {"app": "db", "version": "12"}
BARE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("text", "web", "db", "bare"),
    [
        pytest.param("", True, True, True, id="empty-everything"),
        pytest.param("   ", True, True, True, id="blank-everything"),
        pytest.param("app=web", True, False, False, id="equals"),
        pytest.param("app==web", True, False, False, id="double-equals"),
        pytest.param("app!=web", False, True, True, id="not-equals-missing-key-matches"),
        pytest.param("app in (web,db)", True, True, False, id="in"),
        pytest.param("app notin (web)", False, True, True, id="notin"),
        pytest.param("tier", True, False, False, id="exists"),
        pytest.param("!tier", False, True, True, id="does-not-exist"),
        pytest.param("version>5", False, True, False, id="gt"),
        pytest.param("version<5", True, False, False, id="lt"),
        pytest.param("app=web,tier=front", True, False, False, id="and"),
        pytest.param("app=web,tier=back", False, False, False, id="and-fails"),
        pytest.param("  app  =  web ,  tier ", True, False, False, id="whitespace"),
        pytest.param("app in (web, db),!tier", False, True, False, id="in-and-not"),
        pytest.param("app=", False, False, False, id="equals-empty-value"),
        pytest.param("app in ()", False, False, False, id="in-empty-value"),
        pytest.param("example.com/app!=x", True, True, True, id="prefixed-key"),
    ],
)
def test_label_selector_matching(text: str, web: bool, db: bool, bare: bool) -> None:
    sel = parse_label_selector(text)
    assert (sel.matches(WEB), sel.matches(DB), sel.matches(BARE)) == (web, db, bare)


def test_empty_value_matches_empty_label() -> None:
    assert parse_label_selector("app=").matches({"app": ""})
    assert parse_label_selector("app in (,x)").matches({"app": ""})


def test_gt_lt_ignore_non_integer_labels() -> None:
    assert not parse_label_selector("v>1").matches({"v": "abc"})
    assert not parse_label_selector("v<1").matches({"v": "abc"})


def test_in_and_notin_are_ordinary_words_as_keys_and_values() -> None:
    sel = parse_label_selector("in in (notin, in)")
    assert sel.requirements == (Requirement("in", IN, ("in", "notin")),)
    assert sel.matches({"in": "notin"})


def test_none_labels_count_as_empty() -> None:
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("a in", "expected: '('", id="in-without-values"),
        pytest.param("a in (b", "expected: ',', ')' or identifier", id="unclosed-paren"),
        pytest.param("=x", "found '=', expected: !, identifier", id="no-key"),
        pytest.param("a=b,", "expected: identifier after ','", id="trailing-comma"),
        pytest.param("a b", "found 'b'", id="two-words"),
        pytest.param("a=b=c", "expected: ',' or 'end of string'", id="double-assign"),
        pytest.param("!a=b", "found '='", id="not-with-value"),
        pytest.param("a=(b)", "found '(', expected: identifier", id="paren-after-equals"),
        pytest.param("-bad=x", "invalid label key '-bad'", id="bad-key-start"),
        pytest.param("x/y/z=1", "a qualified name must consist of", id="two-slashes"),
        pytest.param("/x=1", "prefix part must be non-empty", id="empty-prefix"),
        pytest.param(
            "Bad_Prefix/x=1", "prefix part a lowercase RFC 1123 subdomain", id="bad-prefix"
        ),
        pytest.param(
            "k" * 64 + "=1", "name part must be no more than 63 characters", id="long-key"
        ),
        pytest.param("a=" + "v" * 64, "must be no more than 63 characters", id="long-value"),
        pytest.param("a=-v", "a valid label must be an empty string", id="bad-value"),
        pytest.param("v>x", "the value must be an integer", id="gt-not-int"),
    ],
)
def test_label_selector_errors(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert fragment in str(err.value)


def test_selector_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_label_selector("a in")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("tier,app=web", "app=web,tier"),
        ("b notin (z, y),a in (c,b, c)", "a in (b,c),b notin (y,z)"),
        ("!x , y==1, z!=2", "!x,y==1,z!=2"),
        ("v>1,v<9", "v>1,v<9"),
        ("a=", "a="),
        ("a in ()", "a in ()"),
    ],
)
def test_label_selector_canonical_string_round_trips(text: str, canonical: str) -> None:
    sel = parse_label_selector(text)
    assert str(sel) == canonical
    assert parse_label_selector(str(sel)) == sel


_name = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    key = draw(_name)
    if op in ("exists", "!"):
        return make_requirement(key, op)
    if op in ("gt", "lt"):
        return make_requirement(key, op, [str(draw(st.integers(0, 1000)))])
    if op in ("in", "notin"):
        return make_requirement(key, op, draw(st.lists(_name, min_size=1, max_size=4)))
    return make_requirement(key, op, [draw(_name)])


@given(st.lists(_requirements(), max_size=5))
def test_any_selector_string_parses_back_to_itself(reqs: list[Requirement]) -> None:
    sel = LabelSelector(tuple(reqs))
    assert parse_label_selector(str(sel)) == sel


def test_requirements_are_sorted_by_key() -> None:
    sel = parse_label_selector("z=1,a=2,m")
    assert [r.key for r in sel.requirements] == ["a", "m", "z"]


def test_empty_and_nothing() -> None:
    assert parse_label_selector("").empty()
    assert not parse_label_selector("a").empty()
    nothing = LabelSelector.nothing()
    assert not nothing.empty()
    assert not nothing.matches({})
    assert not nothing.matches(WEB)


def test_requires_exact_match() -> None:
    sel = parse_label_selector("app=web,tier in (a,b),x in (only)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") is None
    assert sel.requires_exact_match("x") == "only"
    assert sel.requires_exact_match("missing") is None


# metav1.LabelSelector -------------------------------------------------------------------------


def test_nil_label_selector_matches_nothing_and_empty_matches_everything() -> None:
    assert not selector_from_label_selector(None).matches(WEB)
    everything = selector_from_label_selector({})
    assert everything.empty()
    assert everything.matches(WEB)
    assert selector_from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty()


def test_match_labels_and_expressions() -> None:
    sel = selector_from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "version", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
            ],
        }
    )
    assert sel.requirements == (
        Requirement("app", EQUALS, ("web",)),
        Requirement("canary", DOES_NOT_EXIST, ()),
        Requirement("tier", IN, ("edge", "front")),
        Requirement("version", EXISTS, ()),
        Requirement("zone", NOT_IN, ("b",)),
    )
    assert sel.matches(WEB)
    assert not sel.matches({**WEB, "canary": "1"})
    assert not sel.matches({**WEB, "zone": "b"})
    assert str(sel) == "app=web,!canary,tier in (edge,front),version,zone notin (b)"


@pytest.mark.parametrize(
    ("sel", "fragment"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
            id="bad-operator",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values set can't be empty",
            id="in-without-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
            id="exists-with-values",
        ),
        pytest.param({"matchLabels": {"bad key": "x"}}, "invalid label key", id="bad-key"),
        pytest.param({"matchLabels": {"a": "-x"}}, "invalid label value", id="bad-value"),
        pytest.param({"matchLabels": ["a"]}, "map of strings", id="labels-not-a-map"),
        pytest.param({"matchExpressions": "a"}, "must be a list", id="expressions-not-a-list"),
        pytest.param("app=web", "must be an object", id="not-an-object"),
    ],
)
def test_label_selector_object_errors(sel: Any, fragment: str) -> None:
    with pytest.raises(SelectorError) as err:
        selector_from_label_selector(sel)
    assert fragment in str(err.value)


def test_selector_from_set() -> None:
    sel = selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert not sel.matches({"a": "1"})
    assert selector_from_set({}).empty()


# Field selectors ------------------------------------------------------------------------------

POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


def test_field_selector_operators() -> None:
    sel = parse_field_selector(
        "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed", POD_FIELDS
    )
    assert sel.requirements() == (
        ("spec.nodeName", "=", "n1"),
        ("status.phase", "!=", "Failed"),
        ("status.phase", "!=", "Succeeded"),
    )
    assert sel.matches({"spec.nodeName": "n1", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "n1", "status.phase": "Failed"})
    assert not sel.matches({"spec.nodeName": "n2", "status.phase": "Running"})
    assert sel.requires_exact_match("spec.nodeName") == "n1"
    assert sel.requires_exact_match("status.phase") is None


def test_field_selector_double_equals_and_missing_field_is_empty() -> None:
    sel = parse_field_selector("metadata.name==x", POD_FIELDS)
    assert sel.matches({"metadata.name": "x"})
    assert parse_field_selector("spec.nodeName=", POD_FIELDS).matches({})
    assert parse_field_selector("spec.nodeName!=", POD_FIELDS).matches({"spec.nodeName": "n"})


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d,spec.nodeName=n", POD_FIELDS)
    assert sel.requirements()[0] == ("metadata.name", "=", "a,b=c\\d")
    assert sel.matches({"metadata.name": "a,b=c\\d", "spec.nodeName": "n"})
    assert str(sel) == r"metadata.name=a\,b\=c\\d,spec.nodeName=n"
    assert parse_field_selector(str(sel), POD_FIELDS) == sel


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "spec.hostIP=1.2.3.4", "field label not supported: spec.hostIP", id="unsupported"
        ),
        pytest.param("metadata.name", "can't understand 'metadata.name'", id="no-operator"),
        pytest.param(r"metadata.name=a\x", r"invalid escape sequence: \x", id="bad-escape"),
        pytest.param("metadata.name=a\\", "invalid escape sequence", id="dangling-backslash"),
        pytest.param("metadata.name=a=b", "unescaped character in value: =", id="unescaped-equals"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector(text, POD_FIELDS)
    assert message in str(err.value)


def test_empty_field_selector_matches_everything() -> None:
    sel = parse_field_selector("", POD_FIELDS)
    assert sel.empty()
    assert sel.matches({"metadata.name": "x"})


def test_gt_values_follow_label_value_rules_like_upstream() -> None:
    # Upstream validates every value as a label value, so a negative bound cannot be written.
    with pytest.raises(SelectorError, match="invalid label value '-1'"):
        parse_label_selector("v>-1")


def test_formatting_labels_and_label_selectors_as_kubectl_shows_them() -> None:
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels({}) == format_labels(None) == "<none>"
    sel = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector_string(sel) == "app=web,!canary,tier in (a,b)"
    assert format_label_selector(sel) == "app=web,!canary,tier in (a,b)"
    assert format_label_selector({}) == format_label_selector(None) == "<none>"
    bad = {"matchExpressions": [{"key": "k", "operator": "In", "values": []}]}
    assert format_label_selector(bad) == "<error>"
    with pytest.raises(SelectorError):
        label_selector_string(bad)
