"""The test process: runs a task's tests against the candidate served by the program's process.

Forked from the worker (which never runs generated code) for each program on the split
path. It executes the task's reference program (its helpers, e.g. HumanEval/38's ``encode_cyclic``) and
then its tests, with clean builtins, in a fresh namespace where the entry point is a
``Candidate``: calling it sends the arguments over the channel and returns the plain value
the program's process sent back, decoded here (plain.py). Every reply must carry the
program process's own pid in its kernel credentials (SO_PASSCRED), so a forked copy cannot
answer for it. The verdict goes back to the worker on a socket the program never holds: one JSON object
``{"status", "type", "message", "cpu"}``, ``status`` one of passed, failed, error,
syntax_error, timeout (the tests' CPU time ran out), gone (the program's process went away:
the worker classifies from how it ended) or infra_error (our side failed).

Test processes are trusted and long-lived: the worker keeps one per program slot and reuses
it, since forking one per program would double the cost of every sample. Each job starts
from a fresh namespace and a reseeded ``random``; the tests are the dataset's own code.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import dis
import enum
import functools
import gc
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
import types
from typing import Callable

import isolation  # sibling modules: the worker puts this folder on sys.path
import plain

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
_ANCILLARY = socket.CMSG_SPACE(_CREDENTIALS.size)
RECEIVE_CHUNK = 1 << 16


class Gone(BaseException):
    """The program's process ended, hung up, or sent something that is not a reply.

    A BaseException, as LoadFailed: a test's ``except Exception`` must not swallow it."""


class Uncrossable(BaseException):
    """What the tests and the candidate hand each other cannot cross as one process would show it (a
    value that is no plain data, a container changed inside an argument): the candidate's ``error``,
    and a task whose reference meets it fails the canary and runs another way. A BaseException: a
    test's ``except TypeError`` took the harness's refusal for the candidate's own (a wrong program
    that accepted what it had to refuse passed)."""


class LoadFailed(BaseException):
    """The program did not load (syntax error, exception at import, no entry point)."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(kind, name, message)
        self.kind, self.name, self.message = kind, name, message


MAX_MADE_CLASSES = 1024
"""How many classes made for names a program sent a test process keeps for the next ones: it lives
for many programs, and a reply naming a million classes must not fill its memory for them."""
_made_since_collected = [0]
"""Classes made since the last collection: a class is in a reference cycle, which only the cycle
collector frees (a reply of 100,000 names held 150 MB through the next programs' tests)."""
_RELAYED: dict[tuple[str, tuple[type, ...]], type] = {}
"""The classes made for exceptions that nothing here names, by (name, bases): one per distinct name
and ancestry a program raises, whatever the program."""
_ANY_ARGUMENTS: dict[type, type] = {}


def relayed(name: str, message: str, classes: object, args: object, attributes: object,
            program: dict) -> BaseException:
    """The candidate's exception, re-created here as the tests would have caught it in one process.

    ``classes`` is its class's ancestry, itself first, as ``[module, qualname]`` pairs. A class is
    resolved here where it is the same class there: a built-in, one of the task's program
    (``program``: the namespace its reference program made, module ``solution`` there; a prompt's
    ``class CycleError(ValueError)``, which the tests catch by name; never a class the tests define,
    which the program cannot raise in one process), or one of a module this process has imported
    (``json.JSONDecodeError``). An exception whose own class does not resolve is a class of its name
    derived from every resolved ancestor that no other one derives from (numpy's ``AxisError`` is a
    ValueError and an IndexError; a program's ``class EmailError(ValueError)`` a ValueError), from
    Exception where none resolves, or BaseException where it is no Exception (``sys.exit()`` escapes
    ``except Exception``). Made from ``args`` where they crossed (``KeyError('k')``'s ``args``),
    else from the message, then given the ``attributes`` that crossed (``JSONDecodeError.pos``, a
    program's own ``self.field``, which a test may assert on). Relayed by name alone, such
    exceptions were plain Exceptions, correct programs were scored ``error``, and a task whose
    prompt defines one failed the canary."""
    attributes = dict(attributes) if type(attributes) is dict else {}
    group = attributes.pop("__group__", None)  # an exception group's: each relayed as any exception
    notes, cause = attributes.pop("__notes__", None), attributes.pop("__cause__", None)
    replies = (group if type(group) is list else [])[:plain.MAX_GROUP_SIZE]
    inner = [relayed(*reply, program) for reply in replies if type(reply) is list and len(reply) == 5]
    made = _instance(name, message, classes, args, program, inner)
    if type(notes) is list:  # add_note()'s
        made.__notes__ = [str(note)[:MAX_MESSAGE_CHARS] for note in notes[:plain.MAX_GROUP_SIZE]]
    if type(cause) is list and len(cause) == 5:  # `raise ValueError(...) from err`'s err
        made.__cause__ = relayed(*cause, program)
    for attribute, value in list(attributes.items())[:plain.MAX_RELAYED_ATTRIBUTES]:
        if type(attribute) is str and attribute.isidentifier() and not attribute.startswith("__"):
            try:
                setattr(made, attribute, value)
            except Exception:  # noqa: BLE001 - read-only or refused by the class: as it was made
                pass
    return made


def _instance(name: str, message: str, classes: object, args: object, program: dict,
              inner: list[BaseException]) -> BaseException:
    name = str(name)[:100]
    pairs = [(str(m)[:200], str(q)[:200]) for m, q in
             (pair for pair in (classes if type(classes) is list else [])[:plain.MAX_RELAYED_BASES + 1]
              if type(pair) is list and len(pair) == 2)]
    resolved = [_resolve(module, qualname, program) for module, qualname in pairs]
    cls = resolved[0] if resolved else None
    if cls is not None and _ancestry(cls, len(pairs)) != [list(pair) for pair in pairs]:
        # the reference's class of that name, not the program's (a wrong `PortError(Exception)` was
        # caught by the tests' `except ValueError` as the reference's `PortError(ValueError)`)
        cls = resolved[0] = None
    if cls is None:
        found = [c for c in resolved[1:] if c is not None]
        bases = tuple(c for i, c in enumerate(found) if not any(issubclass(e, c) for e in found[:i]))
        if not bases:
            bases = (Exception,) if ("builtins", "Exception") in pairs or not pairs else (BaseException,)
        cls = _RELAYED.get((name, bases))
        if cls is None:
            cls = _derived(name, bases)
            if len(_RELAYED) < MAX_MADE_CLASSES and not _of_this_job(bases):
                _RELAYED[(name, bases)] = cls
    if inner and issubclass(cls, BaseExceptionGroup):  # as raised: its message and its exceptions
        # (relayed as a RuntimeError, an ExceptionGroup failed the tests catching it)
        args = [str(args[0]) if type(args) is list and args else str(message), inner]
    try:
        made = _restored(cls, args if type(args) is list else [str(message)])
        if getattr(cls, "__str__", None) is _relayed_str:
            made.__dict__["__relayed__"] = str(message)[:plain.MAX_RELAYED_MESSAGE]
        return made
    except Exception:  # noqa: BLE001 - a constructor that wants other arguments (UnicodeDecodeError's five)
        try:
            return _from_message(cls)(str(message))
        except Exception:  # noqa: BLE001 - a class that cannot be derived from either
            return RuntimeError(f"{name}: {message}")


def _restored(cls: type, args: list) -> BaseException:
    """An instance of ``cls`` holding ``args``, made as the program's was left, not made anew: a
    class's own ``__init__`` ran in the program's process, and what it set crosses as ``args`` and
    attributes (``class FieldError(ValueError)`` whose ``__init__(field)`` passes ``f"empty {field}"``
    on: run again on those args, it said "empty empty text"). The nearest built-in ``__init__`` runs,
    which keeps what built-ins hold beside ``args`` (an OSError's ``errno``, a UnicodeDecodeError's
    ``start``)."""
    made = cls.__new__(cls, *args)
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and not isinstance(init, types.FunctionType):
            init(made, *args)
            break
    return made


def _resolve(module: str, qualname: str, program: dict, kind: type = Exception) -> type | None:
    """The class ``module.qualname`` is here, if it is one here and a ``kind``."""
    if module == "builtins":
        found = getattr(builtins, qualname, None)
    elif module == plain.PROGRAM_MODULE:
        found = program.get(qualname)
    else:  # a class of a module imported here already, read without getattr (whose hooks could import
        # more), through classes only and defined there: through a module's modules, a reply naming
        # "numpy.lib._utils_impl" reached 854 classes of the standard library, and platform's
        # uname_result, made with a wrong program's tuple, passed its length check
        found = sys.modules.get(module)
        for depth, part in enumerate(qualname.split(".")):
            found = vars(found).get(part) if isinstance(found, type) or (
                depth == 0 and isinstance(found, types.ModuleType)) else None
        if isinstance(found, type) and found.__module__ != module:
            return None
    return found if isinstance(found, type) and issubclass(found, kind) else None


def _derived(name: str, bases: tuple[type, ...]) -> type:
    """A class of ``name`` on ``bases`` (on the first of them alone where they cannot share one),
    printed as the program's printed (``_relayed_str``)."""
    _made_since_collected[0] += 1
    title = name if name.isidentifier() else "CandidateError"
    try:
        return type(title, bases, {"__str__": _relayed_str})
    except TypeError:  # no consistent order, or instance layouts that conflict
        return type(title, bases[:1], {"__str__": _relayed_str})


def _relayed_str(self: BaseException) -> str:
    """A made class's exception as the program's ``str()`` of it read: a program's own class whose
    ``__str__`` makes its message (its ``args`` empty) printed nothing, and tests reading it failed."""
    relayed_message = vars(self).get("__relayed__")
    return relayed_message if isinstance(relayed_message, str) else BaseException.__str__(self)


def _from_message(cls: type) -> type:
    """``cls`` made from a message alone: a subclass of it (so ``except cls`` catches it) of the same
    name, constructed and printed as Exception is."""
    made = _ANY_ARGUMENTS.get(cls)
    if made is None:
        _made_since_collected[0] += 1
        made = type(cls.__name__, (cls,), {"__init__": Exception.__init__, "__str__": BaseException.__str__})
        if len(_ANY_ARGUMENTS) < MAX_MADE_CLASSES and not _of_this_job((cls,)):
            _ANY_ARGUMENTS[cls] = made
    return made


def _of_this_job(classes: tuple[type, ...]) -> bool:
    """Whether any of ``classes`` is one the task's prompt defined for this job (its module is the
    job's ``__main__``): a class made on one and kept for later jobs kept this job's whole namespace,
    13 MB a program an attacker's trial added up to a test process that failed correct programs."""
    return any(cls.__module__ == "__main__" for cls in classes)


def typed(module: str, qualname: str, value: object, facts: object = None, *, program: dict) -> object:
    """A value of the program's reply as the tests would have had it in one process: of its class
    ``module.qualname`` where that resolves here among ``_TYPED_MODULES``, is the class the program
    had (``facts``: its ancestry, a named tuple's fields, an enum member's name; plain._facts) and can
    hold the plain ``value`` it crossed as (a ``defaultdict``, ``Counter``, the prompt's NamedTuple
    or IntEnum, numpy's scalars), else of a class of that name made here on the plain type (a float
    subclass ``float64``: ``type(out) is float`` and ``out is True`` fail as they would; a named
    tuple of the program's own, with its fields). Only the plain type's own constructors run, or
    these classes' known ones."""
    base = type(value)
    if base not in _REBUILT:  # a live object in the tag (a forged one: the tests' own object): as it is
        return value
    facts = facts if type(facts) is dict else {}
    made = plain.remade(module, qualname, value, facts)
    if made is not None:
        return made
    if module.partition(".")[0] == "numpy":
        _import_numpy()
    # Classes only where their own code is known not to run beyond making the value: a class of any
    # imported module (platform's uname_result) ran its methods here, `uname` in a subprocess,
    # and made len() of a wrong answer the right one
    trusted = module.partition(".")[0] in _TYPED_MODULES
    cls = _resolve(module, qualname, program, object) if trusted else None
    if cls is not None and not _is_the_class(cls, facts):
        cls = None
    if cls is base:
        return value
    if cls is not None:
        with contextlib.suppress(Exception):  # a class that cannot hold it: a stand-in of its name
            made = _as_class(cls, base, value, facts)
            if made is not None:
                return made
    return _stand_in_value(qualname.rpartition(".")[2], base, value, facts)


def typed_run(module: str, qualname: str, values: list, facts: object = None, *, program: dict) -> list:
    """A run of numpy scalars of one type (plain._scalar_run) as ``typed`` makes each: their class
    found and checked once, on the first (reading 99,001 one by one took more CPU than the tests may
    use), then each made by it alone from a value of the first's plain type."""
    if not values:
        return []
    first = typed(module, qualname, values[0], facts, program=program)
    cls, base = type(first), type(values[0])
    if cls.__module__ == "numpy" and _numpy_scalar_of(cls, base) and all(type(v) is base for v in values):
        return [first, *map(cls, values[1:])]
    return [first, *(typed(module, qualname, value, facts, program=program) for value in values[1:])]


_REBUILT = frozenset({bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, type(None),
                      *plain.RECORDS})
"""The plain types a value of another class crosses as: only these are rebuilt as that class (a tag
naming a class over one of the tests' own objects made a class on that job's prompt class, kept for
later jobs with the job's whole namespace, 24 MB a program until correct programs got MemoryError)."""


def _import_numpy() -> None:
    """Import numpy here (where it is installed) before a value of its types is rebuilt: the test
    process lives for many programs, and whether an earlier task's tests had imported it decided
    whether an array came back as an array (its ``==`` an array: a wrong program errs, as in one
    process) or as a list (and passed)."""
    if "numpy" not in sys.modules:
        # with the job's CPU timer stopped: cut short by it (OutOfTime is no Exception), the import
        # left numpy half made in this process, which lives for many programs, and later ones' arrays
        # arrived as lists (a second attacker's trial, which padded its reply to time it so)
        remaining, interval = signal.getitimer(signal.ITIMER_PROF)
        signal.setitimer(signal.ITIMER_PROF, 0)
        if _timing[0] and not remaining:  # the job's time was up, its SIGPROF not yet sent: none will be
            raise OutOfTime
        _sheltered[0] = True  # a SIGPROF already pending must not land inside the import either
        try:
            with contextlib.suppress(Exception):
                import numpy  # noqa: F401, PLC0415 - on demand: most tasks never need it
        finally:
            expired, _sheltered[0] = _sheltered[0] == "expired", False
            if remaining and not expired:
                signal.setitimer(signal.ITIMER_PROF, remaining, interval)
        if expired:
            raise OutOfTime


def _is_the_class(cls: type, facts: dict) -> bool:
    """Whether ``cls``, found here by the name the program's class has, is that class as far as
    ``facts`` tell: the same ancestry (the prompt's classes are module ``__main__`` here), the same
    named-tuple fields, the enum member the program named."""
    bases = facts.get("bases")
    if type(bases) is list and bases and _ancestry(cls, len(bases)) != bases:
        return False
    fields = facts.get("fields")
    if fields is not None and list(getattr(cls, "_fields", ()) or ()) != fields:
        return False
    name = facts.get("name")
    return name is None or not issubclass(cls, enum.Enum) or name in cls.__members__


def _ancestry(cls: type, n: int) -> list[list[str]]:
    """``cls`` and its first ancestors as the program names them: ``[module, qualname]`` each."""
    return [[plain.PROGRAM_MODULE if c.__module__ == "__main__" else c.__module__, c.__qualname__]
            for c in cls.__mro__[:n]]


def _as_class(cls: type, base: type, value: object, facts: dict) -> object | None:  # noqa: PLR0911
    if cls is collections.defaultdict:  # its factory where it crossed by name (a built-in type)
        factory = plain.FACTORY_NAMED.get(facts.get("factory"))
        return collections.defaultdict(factory, value) if base is dict else None
    known = _KNOWN_CONSTRUCTORS.get(cls)
    if known is not None:
        return known[1](value) if base is known[0] else None
    if issubclass(cls, enum.Enum):  # the member itself (`is Color.RED` holds), by its name where it came,
        # else by its value among the members there are (calling the class ran its _missing_, and a
        # Flag class kept each new value as a member: a test process filled until MemoryError)
        member = cls.__members__.get(facts["name"]) if "name" in facts else cls._value2member_map_.get(value)
        held = member is not None and type(member._value_) is base and member._value_ == value
        return member if held else None
    numpy = sys.modules.get("numpy")
    if numpy is not None and cls is numpy.ndarray and base is list:  # crossed as its tolist()
        return numpy.array(value, dtype=_numpy_dtype(numpy, facts.get("dtype")))
    if _numpy_scalar_of(cls, base):
        return cls(value)  # numpy's scalar
    if not issubclass(cls, base):
        return None
    if base in (list, set):
        made = base.__new__(cls)
        base.__init__(made, value)
        return made
    if base is dict:
        made = dict.__new__(cls)
        dict.update(made, value)
        return made
    return base.__new__(cls, value)  # int, float, complex, str, bytes, tuple, frozenset


_KNOWN_CONSTRUCTORS: dict[type, tuple[type, Callable[[object], object]]] = {
    collections.OrderedDict: (dict, collections.OrderedDict),
    collections.Counter: (dict, collections.Counter),
    collections.deque: (list, collections.deque),
    bytearray: (bytes, bytearray),
    memoryview: (bytes, memoryview),
}
"""Classes whose instances hold state a plain constructor cannot set up (an OrderedDict's links), with
the plain type each is made from: ``bytearray(10**9)`` or numpy's ``void(10**9)`` from a reply naming
them would fill the test process's memory, and its verdict would be ``infra_error``, out of pass@k."""
_TYPED_MODULES = frozenset({"builtins", plain.PROGRAM_MODULE, "collections", "numpy"})
"""Where a reply's class is looked up (numpy's submodules too); elsewhere it is a stand-in."""


def _numpy_dtype(numpy: types.ModuleType, name: object) -> object:
    """The dtype an array crossed with, where it is a number's, a bool's or a date's of at most 16
    bytes (``V1000000000`` would fill the test process), else None (numpy's own choice)."""
    try:
        dtype = numpy.dtype(str(name)[:40]) if name is not None else None
    except (TypeError, ValueError):
        return None
    return dtype if dtype is not None and dtype.kind in "biufc?mM" and dtype.itemsize <= 16 else None


def _numpy_scalar_of(cls: type, base: type) -> bool:
    """Whether ``cls`` is a numpy scalar type made from a value of ``base`` as it was made (numpy's
    ``bool_("False")`` is True, ``bytes_(10**8)`` fills 100 MB, ``int64("42")`` is 42)."""
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return False
    kinds = ((numpy.bool_, (bool,)), (numpy.integer, (int,)), (numpy.floating, (float, int)),
             (numpy.complexfloating, (complex,)), (numpy.str_, (str,)), (numpy.bytes_, (bytes,)))
    return any(issubclass(cls, kind) and base in bases for kind, bases in kinds)


_STAND_INS: dict[tuple, type] = {}


def _stand_in_value(name: str, base: type, value: object, facts: dict) -> object:
    """``value`` as an instance of a class of ``name`` made here: a named tuple with the fields the
    program's had (its own ``namedtuple('MinMax', 'lo hi')``: the tests read ``.lo``), else a class
    on the plain type; the value itself where its type takes no subclass (``range``) or no copy (a
    ``datetime`` of numpy's ``datetime64``: a reply that ended the tests)."""
    fields = facts.get("fields")
    if base is tuple and type(fields) is list and len(fields) == len(value) <= MAX_RECORD_FIELDS:
        record = _record_class(name, fields)
        if record is not None:
            return record._make(value)
    try:
        return _stand_in(name, base)(value)
    except Exception:  # noqa: BLE001 - a type that takes no subclass or is not made from itself
        return value


MAX_RECORD_FIELDS, MAX_FIELD_CHARS = 255, 100
"""Most fields a named tuple made for a program's own has, and the longest name of one (beyond, a
tuple of its name without fields)."""


def _record_class(name: str, fields: list) -> type | None:
    """A named tuple class of ``name`` with ``fields`` (None where they are no field names, or longer
    than MAX_FIELD_CHARS: 255 of 58,000 characters each kept 45 MB a class in the test process)."""
    if not all(type(f) is str and len(f) <= MAX_FIELD_CHARS for f in fields):
        return None
    key = (name, tuple(fields))
    found = _STAND_INS.get(key)
    if found is None:
        _made_since_collected[0] += 1
        try:
            found = collections.namedtuple(name if name.isidentifier() else "CandidateRecord", key[1])
        except (ValueError, TypeError):  # a keyword, a duplicate, a leading underscore
            return None
        if len(_STAND_INS) < MAX_MADE_CLASSES:
            _STAND_INS[key] = found
    return found


def _stand_in(name: str, base: type) -> type:
    """A class of ``name`` on ``base`` (on int, printed as a bool, where ``base`` is bool)."""
    found = _STAND_INS.get((name, base))
    if found is None:
        _made_since_collected[0] += 1
        title = name if name.isidentifier() else "CandidateValue"
        found = (type(title, (int,), {"__repr__": _as_bool, "__str__": _as_bool}) if base is bool
                 else type(title, (base,), {}))
        if len(_STAND_INS) < MAX_MADE_CLASSES:
            _STAND_INS[(name, base)] = found
    return found


def _as_bool(value: int) -> str:
    return repr(bool(value))


def _own_argument(which: object, args: tuple, kwargs: dict, returned: object) -> object:
    """What the call returned: one of the tests' own arguments, synced, where the program returned that
    argument itself (``which``: its position or keyword, runner._returned_argument), else ``returned``
    (a copy was no argument: ``out is xs`` failed and ``out is not xs`` held, against one process).
    Only an argument of the returned value's type: a reply cannot turn a copy into another object."""
    if type(which) is int and 0 <= which < len(args):
        own = args[which]
    elif type(which) is str and which in kwargs:
        own = kwargs[which]
    else:
        return returned
    return own if type(own) is type(returned) and isinstance(own, plain.MUTABLE) else returned


def _sync_arguments(args: tuple, kwargs: dict, changed: object, request: bytes,
                    share: plain.Live | None = None, decoder: json.JSONDecoder | None = None) -> None:
    """The tests' own arguments made to hold what the call left in the program's copies of them
    (``changed``, ``[args, kwargs]`` as plain data, or None when the call changed none). Only those
    the call changed (against ``request``, what was sent): one list passed twice crossed as two
    copies, and the copy left as it was undid the other's change. ``share`` and ``decoder`` (live
    tasks): how live objects are named and read back (they changed where they are, if at all)."""
    if type(changed) is not list or len(changed) != 2:
        return
    (sent_args, sent_kwargs), (new_args, new_kwargs) = plain.decode(request, decoder)[:2], changed
    if type(new_args) is list and len(new_args) == len(args):
        for old, sent, new in zip(args, sent_args, new_args, strict=True):
            if not _same(sent, new, share):
                _synced(old, new)
    if type(new_kwargs) is dict:
        for name, old in kwargs.items():
            if name in new_kwargs and not _same(sent_kwargs.get(name), new_kwargs[name], share):
                _synced(old, new_kwargs[name])


def _same(sent: object, new: object, share: plain.Live | None = None) -> bool:
    """Whether an argument came back as it was sent (compared as sent: NaN is NaN)."""
    try:
        return plain.encode(sent, live=share) == plain.encode(new, live=share)
    except plain.UNPLAIN:
        return False


def _synced(old: object, new: object) -> object:
    """``old``, an argument the call changed, changed in place to hold ``new`` (as in one process,
    where the program changed the tests' own object). What it holds is kept where unchanged, found
    where the call moved it (a list of lists sorted in place keeps its lists, so a shallow copy the
    tests took before differs), and taken from ``new`` where it was no container; a container inside
    it that changed raises ``ChangedInside``."""
    if isinstance(old, list) and isinstance(new, list):
        old[:] = _elements(old, new)
    elif isinstance(old, dict) and isinstance(new, dict):  # (a Counter the tests passed comes back one)
        items = [(key, _inner(old[key], value) if key in old else value) for key, value in new.items()]
        old.clear()
        for key, value in items:  # not update(): a Counter's adds (counted the pairs themselves)
            old[key] = value
    elif isinstance(old, set) and type(new) is set or isinstance(old, bytearray) and type(new) is bytearray:
        old.clear()
        old.update(new) if isinstance(old, set) else old.extend(new)
    elif isinstance(old, tuple) and type(new) is tuple and len(old) == len(new):
        for o, n in zip(old, new, strict=True):
            _inner(o, n)  # a tuple cannot change; a container in it can
    return old


class ChangedInside(Uncrossable):
    """The call changed a container inside its arguments: changed in place or replaced by another,
    which copies cannot tell apart. Taken for changed in place, a wrong program that replaced a row
    the tests held passed; taken for replaced, one that changed a row it had to leave alone would.
    The tests get this error (the program's ``error``); a task whose reference does so fails the
    canary this way and runs in one process."""


def _inner(old: object, new: object) -> object:
    """What stands inside an argument where ``old`` stood: ``old`` where the call left it as it was,
    ``new`` where ``old`` was no container (a number, a string, a tuple of them: replacing it is all a
    call can do), else ``ChangedInside``."""
    if _equal(old, new):
        return old
    if isinstance(old, list | dict | set | bytearray) or isinstance(old, tuple) and any(
            isinstance(o, list | dict | set | bytearray | tuple) for o in old):
        raise ChangedInside(f"the call changed a {type(old).__name__} inside its arguments, in place or "
                            "by another in its place, which the tests cannot be told apart")
    return new


def _elements(old: list, new: list) -> list:
    """A changed list's elements: each of the tests' own elements where it still holds one, found
    where the call moved it; else the new one where the old one at that place was no container
    (``_inner``)."""
    unused = set(range(len(old)))
    source: list[int | None] = [None] * len(new)  # the index in old of each new element
    for i, value in enumerate(new):
        if i < len(old) and _equal(old[i], value):
            source[i] = i
            unused.discard(i)
    if len(old) <= MAX_MATCHED_ELEMENTS:
        for i, value in enumerate(new):
            if source[i] is None and isinstance(value, list | dict | set | bytearray | tuple):
                source[i] = next((j for j in sorted(unused) if _equal(old[j], value)), None)
                unused.discard(source[i])
    result = []
    for i, value in enumerate(new):
        if source[i] is not None:
            result.append(old[source[i]])
        elif i in unused:
            unused.discard(i)
            result.append(_inner(old[i], value))
        else:
            result.append(value)
    return result


MAX_MATCHED_ELEMENTS = 512
"""Longest list whose moved elements are looked for (quadratic): past it, each by its place."""


def _equal(old: object, new: object) -> bool:
    if old is new:  # one object (a live one: comparing it would be a request)
        return True
    try:
        return type(old) is type(new) and bool(old == new)
    except Exception:  # noqa: BLE001 - a comparison that fails: not equal
        return False


class Channel:
    """The test side of the socket to the program's process (frames of plain.py)."""

    def __init__(self, fd: int, program_pid: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.pid = program_pid
        self.buffer = b""
        self.broken = ""
        """Why the channel failed, once it has: every later call fails the same way."""

    def send(self, payload: bytes) -> None:
        """Send one framed message (``Gone`` when the other side hung up)."""
        try:
            self.sock.sendall(plain.frame(payload))
        except OSError as exc:
            raise Gone(f"the program's process hung up ({exc.strerror})") from None

    def receive(self, json_decoder: json.JSONDecoder | None = None) -> object:
        """The next framed message, decoded (``Gone`` when the other side hung up)."""
        try:
            size = plain.frame_size(self._read(4))
        except ValueError as exc:
            self.broken = f"a message that is not one ({exc})"
            raise Gone(self.broken) from None
        try:
            return plain.decode(self._read(size), json_decoder)
        except Exception as exc:  # noqa: BLE001 - whatever a malformed reply raises, it is not the candidate's
            # ({"decimal": "lots"} raised decimal.InvalidOperation, which reached the tests as a raise)
            raise Gone(f"a reply that is not plain data ({type(exc).__name__})") from None

    def _read(self, n: int) -> bytes:
        if self.broken:
            raise Gone(self.broken)
        while len(self.buffer) < n:
            try:
                wanted = max(RECEIVE_CHUNK, n - len(self.buffer))
                data, ancillary, _, _ = self.sock.recvmsg(wanted, _ANCILLARY)
            except OSError as exc:
                raise Gone(f"the program's process hung up ({exc.strerror})") from None
            if not data:
                self.broken = "the program's process ended"
                raise Gone(self.broken)
            senders = [_CREDENTIALS.unpack(raw[:_CREDENTIALS.size])[0] for level, kind, raw in ancillary
                       if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
            if senders != [self.pid]:
                self.broken = f"a reply from another process (pid {senders}) than the program's"
                raise Gone(self.broken)
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


NAMES_SHOWN = frozenset({"__name__", "__qualname__"})
"""The only attributes beyond public ones the program may read of the tests' objects: a handler's
name, which a correct program logged or copied onto its wrapper (an error where one process passes),
and which holds nothing of the test process."""


class Session:
    """The tests' side of one program's channel: sends the tests' requests, reads the replies, and
    keeps the objects each side holds of the other's (``Remote`` here for the program's, on a live
    task; ``shared``, the tests' objects the program holds: on any task, the iterators they hand
    over), for one job (``close``)."""

    def __init__(self, channel: Channel, name: str, program: dict, live: bool) -> None:
        self.channel = channel
        self.name = name
        self.program = program
        """The names the task's reference program defined (not the tests'): its exception classes,
        for ``relayed``, and the types of values, for ``typed``."""
        self.live = live
        self.aliases: dict[int, object] = {}
        """The containers a reply holds more than once, while it is read (plain.encode's aliases)."""
        self.decoder = plain.decoder(functools.partial(typed, program=program), self._from_program,
                                     self.aliases, functools.partial(typed_run, program=program))
        self.loaded = False
        self.remotes: dict[int, Remote] = {}
        """The program's objects the tests hold, by the program's handle: one proxy each."""
        self.shared: list = []
        """The tests' objects the program holds, by handle (``{"q": [handle, qualname, iterator]}``)."""
        self.shared_handles: dict[int, int] = {}
        self.proxies: list[Remote] = []
        """Every proxy of this job (``close`` forgets their state)."""
        self.made_classes: dict[tuple, type] = {}
        """The classes made for the program's objects' names, for this job only (``_class_named``)."""

    def class_named(self, ancestry: object) -> type:
        """The class the tests see a program's object as (``_class_named``)."""
        return _class_named(ancestry, self.program, self.made_classes)

    def close(self) -> None:
        """Forget this job's proxies (what the program handed over, or made here, lives no longer)."""
        for proxy in self.proxies:
            _PROXY_STATE.pop(id(proxy), None)
        self.proxies.clear()
        self.remotes.clear()
        self.shared.clear()
        self.shared_handles.clear()
        self.made_classes.clear()
        self.program.clear()

    def ensure_loaded(self) -> None:
        """Wait for the program's load report; raise LoadFailed unless it is ready."""
        if self.loaded:
            return
        report = self.channel.receive()
        if type(report) is not list or not report or report[0] != "ready":
            kind, name, message = (list(report) + ["", "", ""])[:3] if type(report) is list else ("", "", "")
            if kind not in ("syntax_error", "error"):
                raise Gone("a load report that is not one")
            raise LoadFailed(kind, str(name), str(message))
        self.loaded = True

    def request(self, args: tuple, kwargs: dict, use: tuple = ()) -> object:
        """Call the entry point (``use`` empty), or use one of the program's objects (``use``: verb,
        name, handle; live tasks), in the program's process; what it returned, or raise what it
        raised. The tests' arguments are then made to hold what the call left in them."""
        self.ensure_loaded()
        share = self._to_program if self.live else self._iterator_to_program
        what = self.name if not use or use[2] == 0 else "the program's object"
        try:
            request = plain.encode([list(args), kwargs, *use], typed=plain.REQUEST, live=share)
        except plain.IteratorRaised as raised:  # the tests' generator raised as the program read it
            raise raised.exception from None
        except plain.UNPLAIN as exc:
            raise Uncrossable(f"the tests called {what} with {exc}, which is not plain data") from None
        self.channel.send(request)
        reply = self._receive()
        while type(reply) is list and reply and reply[0] == "callback" and (self.live or self.shared):
            self.serve_callback(reply)
            reply = self._receive()
        kind = reply[0] if type(reply) is list and reply else None
        decoder = self.decoder
        if kind == "return" and len(reply) in (3, 4):
            _sync_arguments(args, kwargs, reply[2], request, share, decoder)
            return _own_argument(reply[3], args, kwargs, reply[1]) if len(reply) == 4 else reply[1]
        if kind == "raise" and len(reply) == 7:
            _sync_arguments(args, kwargs, reply[6], request, share, decoder)
            raise relayed(*reply[1:6], self.program)
        if kind == "unplain" and len(reply) == 2:
            raise Uncrossable(f"{self.name} returned {str(reply[1])[:100]}, not plain data "
                              "(numbers, strings, bytes, lists, tuples, dicts, sets, None, bools)")
        raise Gone("a reply that is not one")

    def _receive(self) -> object:
        self.aliases.clear()  # one message's
        return self.channel.receive(self.decoder)

    def serve_callback(self, message: list) -> None:
        """Do what the program asked of one of the tests' objects (``["callback", verb, name,
        target, args, kwargs]``), here, and send what it returned or raised. Only what the tests
        handed over is reached: ``target`` is one of ``shared``, attributes are public ones, and an
        operation is one of plain.OPERATIONS; what comes back is plain data or an object that
        may be shared."""
        if len(message) != 6 or message[1] not in ("call", "get", "set", "del", "op") or \
                type(message[2]) is not str or type(message[4]) is not list or type(message[5]) is not dict:
            raise Gone("a callback that is not one")
        verb, name, target, args, kwargs = message[1:]
        try:
            if verb == "op":
                if name not in plain.OPERATIONS or not args or not self._handed_over(args[0]):
                    raise TypeError(f"no operation {name[:50]!r} on an object the tests handed over")
                result = plain.OPERATIONS[name](*args, **kwargs)
            elif not self._handed_over(target):
                raise TypeError("no object the tests handed over")
            elif verb == "call":
                result = target(*args, **kwargs)
            elif not (name.isidentifier() and not name.startswith("_")) and not (
                    verb == "get" and name in NAMES_SHOWN):
                raise AttributeError(f"the tests' objects show public attributes only, not {name[:50]!r}")
            elif verb == "get":
                result = getattr(target, name)
            elif verb == "set":
                result = setattr(target, name, args[0] if args else None)
            else:
                result = delattr(target, name)
            share = self._to_program if self.live else self._iterator_to_program
            data = plain.encode(["return", result], live=share)
        except (Gone, OutOfTime, LoadFailed):
            raise
        except BaseException as exc:  # noqa: BLE001 - the tests' code raised: the program's code sees it
            raised = exc.exception if isinstance(exc, plain.IteratorRaised) else exc
            data = plain.encode(["raise", _text_of_type(raised), _text(raised), _builtin_base(raised)])
        self.channel.send(data)

    def _handed_over(self, value: object) -> bool:
        handle = self.shared_handles.get(id(value))
        return handle is not None and self.shared[handle] is value

    def _to_program(self, value: object, shareable: bool = False) -> dict:
        """How a value that is no plain data crosses to the program: a ``Remote`` as its handle; one
        of the tests' objects the program may hold as ``{"q": [handle, qualname]}``; else not at all."""
        if type(value) is Remote or type(value) is LiveCandidate:
            session, _, payload = _PROXY_STATE.get(id(value), (None, 0, []))
            if session is not self:
                raise plain.NotPlainData("an object of another program")
            return {"r": payload}
        if not (shareable or _shareable(value)):
            raise plain.NotPlainData(f"a {type(value).__name__}")
        handle = self.shared_handles.get(id(value))
        if handle is None:
            handle = self.shared_handles[id(value)] = len(self.shared)
            self.shared.append(value)
        kind = type(value)
        iterator = int(hasattr(value, "__next__") and hasattr(value, "__iter__"))  # an iterator and no more
        return {"q": [handle, kind.__qualname__ if kind.__module__ == "__main__" else "", iterator]}

    def _iterator_to_program(self, value: object) -> dict:
        """On a task whose objects do not cross live, an iterator the tests hand over stays here, and
        the program asks for each item in turn, as it would read it in one process: read whole as it
        was handed over, an error the iterator raises reached the tests whatever the program did with
        it (a wrong program that swallowed it passed), and so did every side effect of reading it."""
        if not (hasattr(value, "__next__") and _shareable_iterator(value)):
            raise plain.NotPlainData(f"a {type(value).__name__}")
        return self._to_program(value, shareable=True)

    def _from_program(self, tag: str, payload: object) -> object:
        """A live tag in the program's message: a ``Remote`` of its object, or one of the tests' own."""
        if type(payload) is not list or len(payload) not in (2, 3) or type(payload[0]) is not int \
                or payload[0] < 0:
            raise ValueError(f"a {tag} tag that is not [handle, name]")
        if tag == "r" and not self.live:
            raise ValueError("an object of the program on a task whose objects do not cross")
        handle = payload[0]
        if tag == "r" and type(payload[1]) is list:  # its names as _class_named reads them, no longer
            names = payload[1][:plain.MAX_RELAYED_BASES + 1]
            payload = [handle, [[str(part)[:200] for part in pair[:2]]
                                for pair in names if type(pair) is list]]
        if tag == "q":
            if handle >= len(self.shared):
                raise ValueError("a q tag naming no object the tests handed over")
            return self.shared[handle]
        remote = self.remotes.get(handle)
        if remote is None:
            if len(self.remotes) >= MAX_REMOTES:
                raise ValueError(f"more than {MAX_REMOTES} of the program's objects")
            remote = self.remotes[handle] = Remote(self, handle, payload)
        return remote


MAX_REMOTES = 100_000
"""How many of its objects a program may hand the tests (each a proxy in the test process)."""

_SHAREABLE_CALLABLES = frozenset(map(id, (
    abs, all, any, ascii, bin, bool, bytes, callable, chr, complex, dict, divmod, enumerate, filter, float,
    format, frozenset, hash, hex, int, isinstance, iter, len, list, map, max, min, next, oct, ord, pow,
    range, repr, reversed, round, set, sorted, str, sum, tuple, zip)))
"""Built-ins the tests may hand a program (``key=len``, ``default=list``): none reaches a file, a
module or an object's internals."""
_PLAIN_TYPES = (str, bytes, int, float, complex, bool, list, tuple, dict, set, frozenset)
_FORMATTERS = (str.format, str.format_map)
"""Never handed over: a format string walks its arguments' attributes and items, here (an attacker's
program read the tests' expected answers through ``"{0._session.program[f].__globals__}"`` and wrote
into a module's registry through ``[key]``)."""


def _shareable_iterator(value: object) -> bool:
    """An iterator the tests made: a generator of their code's, or a built-in one (over a list, a
    ``map``, ``zip``, ``enumerate``: reading it runs nothing the tests did not write)."""
    if type(value) is types.GeneratorType:
        return value.gi_code.co_filename in ("tests.py", "prompt.py")
    return type(value).__module__ in _ITERATOR_MODULES or _shareable(value)


_ITERATOR_MODULES = ("builtins", "itertools")


def _shareable(value: object) -> bool:  # noqa: PLR0911 - one kind a branch
    """Whether the tests may hand ``value`` to the program as a live object (it stays here, and the
    program may call it, read and set its public attributes, and apply operators to it): the
    tests' and the prompt's own functions, classes and their instances (a fake clock, a callback,
    a prompt's dataclass), and a few pure built-ins (``str.lower``). Never a module, a file, a path
    or anything else of this process, which the program could use to reach the verdict."""
    kind = type(value)
    if kind.__module__ in _ITERATOR_MODULES and hasattr(value, "__next__") and hasattr(value, "__iter__"):
        return True  # a built-in iterator the tests made (over a list, map, zip): see _shareable_iterator
    if kind is types.FunctionType:
        return value.__code__.co_filename in ("tests.py", "prompt.py")
    if kind is types.MethodType:
        return _shareable(value.__func__)
    if kind is types.BuiltinFunctionType or kind is type and value in _PLAIN_TYPES:
        return id(value) in _SHAREABLE_CALLABLES
    if kind in (types.MethodDescriptorType, types.ClassMethodDescriptorType, types.WrapperDescriptorType):
        return getattr(value, "__objclass__", None) in _PLAIN_TYPES and value not in _FORMATTERS
    if isinstance(value, type):
        return value.__module__ == "__main__"
    if kind is types.GeneratorType:
        return _shareable_iterator(value)
    return kind is object or kind.__module__ == "__main__"  # object(): a sentinel, nothing in it


def _text_of_type(exc: BaseException) -> str:
    return type(exc).__name__[:MAX_TYPE_CHARS]


def _builtin_base(exc: BaseException) -> str:
    """The nearest built-in class of ``exc`` (the program's side re-creates it on that)."""
    return next((c.__name__ for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c),
                "Exception")


class Remote:
    """An object of the program's process the tests hold (live tasks: the ``LRUCache`` they made):
    calling it, reading, setting or deleting its attributes and its operators (``==``, ``len``,
    ``in``, ``+``, iteration) are requests the program's process answers, so the program's code
    runs only there, as it would in one process. ``isinstance`` sees the class it names: the
    prompt's, where it is one (``isinstance(r, Shape)``), else a class of its name derived from the
    prompt's classes it derives from. It holds nothing of the test process: its session, handle and
    name are in ``_PROXY_STATE`` (an attribute of it, reached by a format string the program had
    the tests run, led to the session, the tests' namespace and their expected answers)."""

    __slots__ = ()

    def __init__(self, session: Session, handle: int, payload: list) -> None:
        _PROXY_STATE[id(self)] = (session, handle, payload)
        session.proxies.append(self)

    def __call__(self, *args, **kwargs):  # noqa: D102 - each of these is a request (see the class)
        return _use(self, "call", "", args, kwargs)

    def __getattr__(self, name: str):
        return _use(self, "get", name)

    def __setattr__(self, name: str, value: object) -> None:
        _use(self, "set", name, (value,))

    def __delattr__(self, name: str) -> None:
        _use(self, "del", name)

    def __enter__(self):
        return _use(self, "get", "__enter__")()

    def __exit__(self, *exc_info):
        return _use(self, "get", "__exit__")(*exc_info)

    @property
    def __class__(self):  # noqa: PLE0101 - what isinstance() reads
        session, _, payload = _PROXY_STATE[id(self)]
        return session.class_named(payload[1])


_PROXY_STATE: dict[int, tuple[Session, int, list]] = {}
"""Each live proxy's (session, handle, payload), by id(): emptied as its job ends (``Session.close``)."""


def _use(remote: Remote, verb: str, name: str = "", args: tuple = (), kwargs: dict | None = None) -> object:
    session, handle, _ = _PROXY_STATE[id(remote)]
    return session.request(args, kwargs or {}, (verb, name, handle))


def _relay_operation(name: str, operands: tuple) -> object:
    """Apply the special method ``name`` in the program's process to its object (``operands[0]``)."""
    return _PROXY_STATE[id(operands[0])][0].request(operands, {}, ("op", name, None))


for _name, _method in plain.special_methods(_relay_operation).items():
    setattr(Remote, _name, _method)


def _class_named(ancestry: object, program: dict, made: dict) -> type:
    """The class a program's object names (``[[module, qualname], ..]``, its own first) as the tests
    see it: the class itself where it resolves and has that ancestry (the prompt's, a built-in; a
    program's ``Rectangle`` that is no ``Shape`` passed ``isinstance(r, Shape)`` as the reference's
    ``Rectangle`` of that name), else a class of its name derived from those of its ancestors that
    do (``object`` where none does), kept in ``made`` (the session's: the prompt's classes are the
    job's own, and a class made on one, kept for later jobs, kept that job's whole namespace)."""
    pairs = [(str(m)[:200], str(q)[:200]) for m, q in (
        pair for pair in (ancestry if type(ancestry) is list else [])[:plain.MAX_RELAYED_BASES + 1]
        if type(pair) is list and len(pair) == 2)]
    resolved = [_resolve(m, q, program, object) if m.partition(".")[0] in _TYPED_MODULES else None
                for m, q in pairs]
    own = resolved[0] if resolved else None
    if own is not None and _ancestry(own, len(pairs)) == [list(pair) for pair in pairs]:
        return own
    found = [c for c in resolved[1:] if c is not None and c is not object]
    bases = tuple(c for i, c in enumerate(found) if not any(issubclass(e, c) for e in found[:i])) or (object,)
    name = pairs[0][1].rpartition(".")[2] if pairs else "CandidateObject"
    cls = made.get((name, bases))
    if cls is None:
        title = name if name.isidentifier() else "CandidateObject"
        try:
            cls = type(title, bases, {})
        except TypeError:  # bases that cannot share a class (or be one: bool): the first alone, or none
            try:
                cls = type(title, bases[:1], {})
            except TypeError:
                cls = type(title, (object,), {})
        if len(made) < MAX_MADE_CLASSES:
            made[(name, bases)] = cls
    return cls


class Candidate:
    """The entry point as the tests see it: a function of plain data, run in the program's process."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.__name__ = self.__qualname__ = session.name

    def __call__(self, *args, **kwargs):
        """Call the entry point in the program's process with plain-data arguments; its result."""
        return self._session.request(args, kwargs)


class LiveCandidate(Remote):
    """The entry point of a live task: the program's object of handle 0 (a class the tests make
    instances of, ``candidate.square(2.5)``, ``isinstance(sq, candidate)``), whose calls are the
    entry point's calls (the tests' arguments made to hold what the call left in them)."""

    __slots__ = ()

    def __init__(self, session: Session) -> None:
        super().__init__(session, 0, [0, []])

    def __call__(self, *args, **kwargs):
        """Call the entry point in the program's process; its result."""
        return _PROXY_STATE[id(self)][0].request(args, kwargs)



plain.PROXY_CLASSES.update((Remote, LiveCandidate))


class OutOfTime(BaseException):
    """The tests used up their CPU time on this program's answers (SIGPROF)."""


_timing: list[bool] = [False]
"""Whether a job's CPU timer is armed: a SIGPROF handled after the job disarmed it (the signal was
already on its way) is ignored, not raised where the worker would read an infra_error."""


_sheltered: list = [False]
"""True while numpy is imported for a reply (``_import_numpy``); "expired" where the job's time ran
out meanwhile (a SIGPROF already pending as the timer was stopped), raised once the import is whole."""


def _out_of_time(signum, frame) -> None:
    if _timing[0]:
        if _sheltered[0]:
            _sheltered[0] = "expired"
            return
        raise OutOfTime


def serve(control: socket.socket, memory_mb: int) -> None:
    """A test process's life: run one job at a time until the worker hangs up.

    A job is JSON ``{"pid", "task", "limit"}`` (with ``define``: the task's ``entry_point``,
    ``helpers`` and ``tests``, the first time) and the channel's test end as SCM_RIGHTS;
    the reply is the verdict with ``cpu``, the seconds this job used.
    Each job gets a fresh namespace, ``random`` reseeded as in a fresh process, and a CPU
    timer of its own (the worker's wall-clock backstop ends a job stuck in C code).
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, resource.getrlimit(resource.RLIMIT_AS)[1]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGPROF, _out_of_time)
    tasks: dict[str, dict] = {}
    buffer = bytearray(1 << 20)
    while True:
        message, fds = isolation.receive(control, buffer, 1)
        if not message:
            return
        job = json.loads(message)
        if "define" in job:
            tasks[job["task"]] = job["define"]
        job.update(tasks[job["task"]])
        start = time.process_time()
        try:
            verdict = _run_job(job, fds[0])
        except BaseException as exc:  # noqa: BLE001 - our side failed: reported as such
            verdict = {"status": "infra_error", "type": type(exc).__name__, "message": str(exc)[:500]}
        verdict["cpu"] = time.process_time() - start
        control.send(json.dumps(_bounded(verdict)).encode())
        if _made_since_collected[0] > MAX_MADE_CLASSES:  # after the verdict: no program waits on it
            gc.collect()
            _made_since_collected[0] = 0


MAX_TYPE_CHARS, MAX_MESSAGE_CHARS = 100, 2000
"""A verdict's exception type and message are cut to these in every path: the program chooses
them (its load report, a relayed exception), and the worker reads a verdict in one message of
at most 64 KiB (one of 70,000 characters once stopped the worker and every program it held)."""


def _bounded(verdict: dict) -> dict:
    return verdict | {"type": str(verdict.get("type", ""))[:MAX_TYPE_CHARS],
                      "message": str(verdict.get("message", ""))[:MAX_MESSAGE_CHARS]}


def _run_job(job: dict, channel_fd: int) -> dict:
    channel = Channel(channel_fd, job["pid"])
    try:
        if "random" in sys.modules:  # the tests' random numbers repeat, and no program knows them
            sys.modules["random"].seed(job.get("seed", 0))
        _timing[0] = True
        signal.setitimer(signal.ITIMER_PROF, float(job["limit"]))
        try:
            return _run_tests(job, channel)
        finally:
            _timing[0] = False
            signal.setitimer(signal.ITIMER_PROF, 0)
    except OutOfTime:
        return {"status": "timeout", "type": "", "message": ""}
    finally:
        channel.sock.close()


@functools.lru_cache(maxsize=64)
def _compiled(source: str, name: str) -> types.CodeType:
    """A task's prompt or tests compiled once for all its samples (trusted text from the dataset)."""
    return compile(source, name, "exec", dont_inherit=True)


def _run_tests(job: dict, channel: Channel) -> dict:
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    try:
        helpers = _compiled(job["helpers"], "prompt.py")
        tests = _compiled(job["tests"], "tests.py")
        exec(helpers, module.__dict__)  # noqa: S102 - the task's own prompt (trusted)
    except OutOfTime:
        raise
    except BaseException as exc:  # noqa: BLE001 - the dataset's fault, never the program's
        message = f"the task's reference program: {exc}"[:500]
        return {"status": "infra_error", "type": type(exc).__name__, "message": message}
    # what the reference program defined, before the tests add theirs: the classes a program's
    # exception may be (a wrong program raised a class of the tests' by name, which they took to
    # mean "skip this case", and passed)
    session = Session(channel, job["entry_point"], _reference_classes(module.__dict__, job.get("alike")),
                      bool(job.get("live")))
    candidate = (LiveCandidate if session.live else Candidate)(session)
    module.__dict__[job["entry_point"]] = candidate
    try:
        return _tests_verdict(tests, module, session)
    finally:
        session.close()
        # the job's namespace holds its functions, whose globals it is: a cycle only the collector
        # frees, which seldom ran, and a task whose prompt holds a table of 25 MB grew the reused test
        # process by that much a program, until correct programs got MemoryError (an attacker's trial)
        module.__dict__.clear()


def _reference_classes(namespace: dict, alike: object) -> dict:
    """The reference program's classes that a class the program's values name may be taken as: those
    of the names the program defines as the reference does (``alike``: Program.alike) whose code
    uses no name but those and the built-ins. A class the program writes its own way, or one of the
    prompt's whose methods call a function the program writes, is not the same class in both
    processes: taken for the reference's, its code ran here in the program's stead (a wrong ``peek``
    passed)."""
    names = {name for name in alike if type(name) is str} if type(alike) is list else set()
    trusted = names | set(vars(builtins))
    return {name: value for name, value in namespace.items()
            if name in names and isinstance(value, type) and _uses_only(value, trusted, namespace, set())}


def _uses_only(cls: type, trusted: set[str], namespace: dict, seen: set[int]) -> bool:
    """Whether the code of ``cls`` and of its ancestors the reference program defined loads no global
    name outside ``trusted`` (functions made elsewhere, as dataclass' ``__init__``, have globals of
    their own and are not the program's to write)."""
    for klass in cls.__mro__:
        if klass.__module__ != "__main__" or id(klass) in seen:
            continue
        seen.add(id(klass))
        if klass.__name__ not in trusted:
            return False
        for attribute in vars(klass).values():
            value = attribute.__func__ if isinstance(attribute, staticmethod | classmethod) else attribute
            functions = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
            for function in functions:
                if isinstance(function, types.FunctionType) and function.__globals__ is namespace \
                        and not _loads_only(function.__code__, trusted):
                    return False
            if isinstance(value, type) and not _uses_only(value, trusted, namespace, seen):
                return False
    return True


def _loads_only(code: types.CodeType, trusted: set[str]) -> bool:
    """Whether ``code`` and the code it holds (nested functions, comprehensions) load only globals in
    ``trusted``."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and instruction.argval not in trusted:
            return False
    return all(_loads_only(const, trusted) for const in code.co_consts if isinstance(const, types.CodeType))


def _tests_verdict(tests: types.CodeType, module: types.ModuleType, session: Session) -> dict:  # noqa: PLR0911
    """Run the tests against the candidate; the verdict as the test process reports it."""
    channel = session.channel
    try:
        exec(tests, module.__dict__)  # noqa: S102 - the task's own tests (trusted)
        session.ensure_loaded()  # tests that never call the candidate still need it to load
        if channel.broken:  # a test swallowed the failure with a bare except
            raise Gone(channel.broken)
    except OutOfTime:
        raise
    except Gone as exc:
        return {"status": "gone", "type": "", "message": str(exc)}
    except LoadFailed as exc:
        return {"status": exc.kind, "type": exc.name, "message": exc.message}
    except Uncrossable as exc:
        return {"status": "error", "type": "TypeError", "message": _text(exc)}
    except AssertionError as exc:
        return {"status": "failed", "type": "AssertionError", "message": _text(exc)}
    except BaseException as exc:  # noqa: BLE001 - an exception in the tests is the program's error
        return {"status": "error", "type": type(exc).__name__, "message": _text(exc)}
    return {"status": "passed", "type": "", "message": ""}


def _text(exc: BaseException) -> str:
    """An exception's message for the verdict. On a live task it may hold the program's objects, whose
    ``str`` is a request: to a process that has ended, that raised Gone out of the verdict's own
    code, and a wrong program's ``failed`` became the run's ``infra_error`` (an attacker's trial)."""
    try:
        return str(exc)[:MAX_MESSAGE_CHARS]
    except OutOfTime:
        raise
    except BaseException:  # noqa: BLE001 - Gone, or whatever the program's __str__ raised
        return "<unprintable>"


def start(memory_mb: int) -> tuple[int, socket.socket]:
    """Fork a test process; returns (its pid, the worker's end of the socket to it)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = isolation.fork_without_hooks()
    if pid == 0:
        try:
            isolation.set_name(b"evalkit-tests")
            null = os.open(os.devnull, os.O_RDWR)
            isolation.arrange_fds({0: null, 1: null, 2: null, 3: theirs.fileno()})
            serve(socket.socket(fileno=3), memory_mb)
        finally:
            os._exit(0)
    theirs.close()
    return pid, ours
