"""The channel's plain-data codec and the verdict rules, as pure functions (no process runs)."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import json
import math

import pytest

from evalkit.execution import outcome, plain

OK = {"setup": "ok", "exit": 0, "cpu": 0.01, "own_cpu": 0.01, "walled": False, "out": "",
      "passed_signal": False, "report": ""}


@pytest.mark.parametrize("value", [
    None, True, 0, -3, 10 ** 40, 1.5, -0.0, "é\n\"x\"", b"\x00\xff", 1 + 2j,
    [1, [2, (3, 4)]], (1,), (), {"a": 1, 2: "b", (1, 2): [3]}, {1, 2}, frozenset({"x"}), {"t": [1]},
    datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
    datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.time(23, 59), datetime.timedelta(days=-1, seconds=5), decimal.Decimal("1.10"),
    range(5), range(10 ** 30, -3, -7), fractions.Fraction(1, 3),
])
def test_plain_values_cross_unchanged_with_their_types(value):
    back = plain.decode(plain.encode(value))
    assert back == value and type(back) is type(value)


def test_nan_and_subclasses_become_plain():
    assert math.isnan(plain.decode(plain.encode(float("nan"))))

    class Sly(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            return True

    back = plain.decode(plain.encode(Sly("a")))
    assert type(back) is str and back != "b"


def test_an_always_equal_object_cannot_cross():
    class AlwaysEqual:
        __hash__ = object.__hash__

        def __eq__(self, other):
            return True

    with pytest.raises(plain.NotPlainData, match="AlwaysEqual"):
        plain.encode(AlwaysEqual())


def test_a_reply_names_the_type_a_value_crossed_as_plain_data_from():
    # the program's replies only: a defaultdict was a dict to the tests, numpy's True was True
    value = {"rows": collections.defaultdict(list, a=[1]), "n": collections.Counter("aab")}
    assert plain.decode(plain.encode(value)) == {"rows": {"a": [1]}, "n": {"a": 2, "b": 1}}
    seen, facts = [], []
    read = plain.decoder(lambda module, qualname, inner, known: seen.append((module, qualname, inner))
                         or facts.append(known) or inner)
    assert plain.decode(plain.encode(value, typed=True), read) == {"rows": {"a": [1]}, "n": {"a": 2, "b": 1}}
    assert seen == [("collections", "defaultdict", {"a": [1]}), ("collections", "Counter", {"a": 2, "b": 1})]
    # what rebuilds it as it was: its ancestry (a class of the reference's of that name may be another),
    # a defaultdict's factory where it is a built-in type (without it, a missing key was a KeyError)
    assert facts[0] == {"bases": [["collections", "defaultdict"], ["builtins", "dict"],
                                  ["builtins", "object"]], "factory": "list"}
    with pytest.raises(ValueError, match="unknown tag 'o'"):  # the program side reads no such tag
        plain.decode(plain.encode(value, typed=True))


@pytest.mark.parametrize("data", [
    b'{"x": 1}', b'{"t": 1}', b'{"d": [[1]]}', b'{"s": [[1]]}', b'{"d": [[[1], 2]]}', b'{"b": "zz"}',
    b"[" * 100_000, b"not json",
])
def test_anything_else_is_refused_by_the_decoder(data):
    with pytest.raises((ValueError, RecursionError, TypeError)):
        plain.decode(data)


@pytest.mark.parametrize("data", [b'{"decimal": "lots"}', b'{"timedelta": [99999999999, 0, 0]}',
                                  b'{"range": [0, 5, 0]}',
                                  b'{"s": [{"t": [[1]]}]}', b'{"date": "2024-13-01"}'])
def test_a_tag_its_type_refuses_is_a_value_error_never_that_type_s_exception(data):
    # decimal.InvalidOperation, OverflowError, TypeError reached the tests as the candidate's own raise
    # (a test catching ArithmeticError would have taken a malformed reply for an answer)
    refusals = "payload its type refuses|Invalid isoformat|month must be|must not be zero"
    with pytest.raises(ValueError, match=refusals):
        plain.decode(data)
    try:
        plain.decode(data)
    except ValueError as exc:
        assert type(exc) is ValueError


def test_frames_are_bounded():
    with pytest.raises(ValueError, match="limit"):
        plain.frame_size((plain.MAX_MESSAGE + 1).to_bytes(4, "big"))


def test_split_verdicts():
    judged = {"status": "passed", "type": "", "message": ""}
    assert outcome.split_verdict(OK, judged, 0, False, 1.0) == ("passed", "")
    failed = dict(judged, status="failed", type="AssertionError", message="x")
    assert outcome.split_verdict(OK, failed, 0, False, 1.0) == ("failed", "AssertionError: x")
    gone = dict(judged, status="gone")
    walled = dict(OK, walled=True)
    assert outcome.split_verdict(walled, gone, 0, False, 1.0)[0] == "timeout"
    assert outcome.split_verdict(dict(OK, exit=-11), gone, 0, False, 1.0) == ("error", "killed by SIGSEGV")
    assert outcome.split_verdict(OK, gone, 0, False, 1.0)[1].startswith("exited with code 0 before")
    # tests that passed on a program that used more CPU of its own than its limit (its timer disarmed)
    assert outcome.split_verdict(dict(OK, cpu=1.6, own_cpu=1.6), judged, 0, False, 1.0) == (
        "timeout", "CPU limit 1.00 s exceeded (1.60 s used)")
    assert outcome.in_process_verdict(dict(OK, passed_signal=True, cpu=1.6, own_cpu=1.6), 1.0)[0] == "timeout"
    # the CPU of children it waited for (subprocess.run in each call) is theirs, each under its own limit
    assert outcome.split_verdict(dict(OK, cpu=1.6, own_cpu=0.4), judged, 0, False, 1.0) == ("passed", "")


def test_only_evalkit_side_gives_infra_error():
    judged = {"status": "error", "type": "RuntimeError", "message": "sandbox setup failed"}
    # what the program printed or raised never makes an infra_error
    assert outcome.split_verdict(dict(OK, out="Isetup failed\n"), judged, 0, False, 1.0)[0] == "error"
    laundering = dict(OK, exit=111, report="IRuntimeError\tsandbox setup failed")
    assert outcome.in_process_verdict(laundering, 1.0)[0] == "error"
    # the set-up pipe and a test process that died on its own do
    assert outcome.split_verdict(dict(OK, setup="mount: EPERM"), None, 0, False, 1.0)[0] == "infra_error"
    assert outcome.split_verdict(OK, None, -11, False, 1.0)[0] == "infra_error"
    assert outcome.split_verdict(OK, None, -9, True, 1.0)[0] == "timeout"


def test_in_process_verdicts():
    assert outcome.in_process_verdict(dict(OK, passed_signal=True), 1.0) == ("passed", "")
    report = dict(OK, exit=1, report="EAssertionError\tbad\\nline")
    assert outcome.in_process_verdict(report, 1.0) == ("failed", "AssertionError: bad\nline")
    assert outcome.in_process_verdict(dict(OK, exit=-24, cpu=1.0), 1.0)[0] == "timeout"
    json.dumps(outcome.in_process_verdict(OK, 1.0))


def test_a_fraction_too_long_to_reduce_within_a_cpu_limit_is_a_reply_the_tests_cannot_read():
    # An attacker's reply: a fraction tag of two huge ints, which Fraction reduces by gcd in one C call
    # the tests' CPU timer cannot stop (4 s past a 1 s limit, every such sample).
    def reply(numerator: int) -> bytes:
        return json.dumps({"fraction": [{"x": hex(numerator)}, 3]}).encode()

    longest = (1 << plain.FRACTION_BITS) - 1
    assert plain.decode(reply(longest)) == fractions.Fraction(longest, 3)
    with pytest.raises(ValueError, match="unknown tag 'fraction'"):
        plain.decode(reply(longest * 2 + 1))
