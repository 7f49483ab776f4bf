"""Plain data between the test process and the program process: JSON with tags, nothing else.

The candidate function's arguments and results cross the channel as plain values only:
None, bools, ints, floats, complex, strings, bytes, lists, tuples, dicts, sets and frozensets.
JSON carries None, bools, numbers, strings and lists; every JSON object on the wire is one
tag: ``{"t": [..]}`` a tuple, ``{"d": [[k, v], ..]}`` a dict, ``{"s": [..]}`` a set,
``{"f": [..]}`` a frozenset, ``{"b": "hex"}`` bytes, ``{"c": [re, im]}`` a complex, and the
standard library's plain records: ``{"date": iso}``, ``{"datetime": iso}`` (naive, or with a
fixed UTC offset), ``{"time": iso}``, ``{"timedelta": [days, seconds, microseconds]}``,
``{"decimal": str}``, ``{"range": [start, stop, step]}``, ``{"fraction": [numerator,
denominator]}``, ``{"it": [..]}`` an iterator over those items; and in the program's replies,
``{"o": [module, qualname, value, facts]}``, a value whose type is not the plain one it crosses as
(``encode``'s ``typed``; ``facts``: ``_facts``), ``{"al": [k, container]}`` and ``{"at": k}`` one
container the value holds twice (``encode``'s ``aliases``); ``{"x": hex}`` an int too long for
decimal. ``{"r": [handle, ancestry]}`` names an object that stays in the program's process (a task
whose tests and program hold each other's objects: ``live``, the canary found its reference needs
it) and ``{"q": [handle, qualname, iterator]}`` one that stays in the test process (there, and an
iterator the tests hand over on any task): each use of it is a message to its side (judge.Remote,
runner.TestObject, runner.TestIterator), never a copy; ``{"ni": 0}`` is NotImplemented, what a
special method answered there. So a
decoded value is built by ``json`` and these few constructors, never by pickle or marshal,
and the trusted side compares values it built itself (an object whose ``__eq__`` is always
True cannot cross). Size is bounded by the framing (``MAX_MESSAGE``), depth by ``json``'s own
recursion guard and ``MAX_DEPTH``.

Imported by the worker scripts as a top-level module: it imports nothing from evalkit.
"""

from __future__ import annotations

import array
import collections
import contextlib
import datetime
import decimal
import fractions
import itertools
import json
import operator
import struct
import sys
import weakref
from typing import Callable

MAX_MESSAGE = 16 << 20
"""Largest message either side accepts (16 MiB): a reply beyond it is the program's error."""
MAX_DEPTH = 200
"""Deepest value encoded; JSON's decoder stops deeper input with RecursionError."""
MAX_RELAYED_BASES = 16
"""How many ancestors of an exception a ``["raise", name, message, classes, args, attributes]`` reply
names beside its own class; the test process reads no more (judge.relayed)."""
MAX_RELAYED_ATTRIBUTES = 32
"""How many of an exception's attributes (``JSONDecodeError.pos``, ``OSError.filename``, a program's
own ``self.field``) that reply carries; the test process sets no more."""
MAX_RELAYED_MESSAGE = 1 << 20
"""Longest message of an exception that crosses (the verdict's own detail is cut far shorter): tests
that read a long message's end failed a correct program at 2,000 characters."""
MAX_GROUP_SIZE, MAX_GROUP_DEPTH = 64, 3
"""How many exceptions of an exception group cross, and how deep groups in groups do."""
PROGRAM_MODULE = "solution"
"""The module a program runs as in its process: its own classes' ``__module__``."""
_HEADER = struct.Struct(">I")
_LONGEST_DECIMAL_BITS = 13_000
"""Ints longer than this cross in hex (``{"x": "0x.."}``): Python refuses to write one of more than
4,300 decimal digits (about 14,000 bits), and that ValueError reached the tests as the call's."""
_SCALARS = (type(None), bool, int, float, str)


class NotPlainData(TypeError):
    """A value that cannot cross the channel (names its type)."""


class IteratorRaised(Exception):  # noqa: N818 - not an error of ours: what an iterator raised
    """An iterator crossing raised as its items were read (``exception``): the call raised it, as
    ``list(candidate(-1))`` would have in one process (it read as "not plain data", or ended the
    program's process)."""

    def __init__(self, exception: BaseException) -> None:
        super().__init__(exception)
        self.exception = exception


UNPLAIN = (NotPlainData, RecursionError, ValueError, TypeError, OverflowError)
"""What ``encode`` raises for a value that is not plain data, or a hostile one (a ``__float__`` that
overflows, a structure deeper than the interpreter allows)."""


Live = Callable[[object], dict]
"""How one side names an object that stays with it (live tasks): ``{"r": ..}`` or ``{"q": ..}``, or
NotPlainData where that object may not be shared."""


REQUEST, REPLY = 1, 2
"""``encode``'s ``typed``: the tests' calls, the program's replies."""


def encode(value: object, typed: int = 0, live: Live | None = None, aliases: bool = False) -> bytes:
    """The value as tagged JSON bytes; raises NotPlainData for anything else.

    ``typed`` (REQUEST, REPLY): a value of another type than the plain one it crosses as (a
    ``defaultdict``, a NamedTuple, numpy's ``np.True_``) is tagged ``{"o": [module, qualname,
    value, facts]}``, so that the other side does not take it for a plain ``dict`` or ``True``
    (``type(out) is dict`` and ``out is True`` passed wrong programs; a ``Counter`` the tests passed
    arrived as a dict, and a correct program's ``most_common`` failed): see ``decoder``. In a REPLY
    a numpy array crosses as its ``tolist()``; the tests' arrays do not (``_coerced``). ``live``
    (live tasks): what a value that is no plain data crosses as instead of raising. ``aliases``
    (the program's return values): a container the value holds twice crosses once, ``{"al": [k,
    value]}``, and then as ``{"at": k}``, so the tests get one object twice, as one process would
    give them (``[[0] * n] * n``, a grid of one row n times, crossed as n rows, and a wrong program
    passed the tests' check that its rows are apart)."""
    shared = _repeated(value) if aliases else None
    return _ENCODER.encode(_tagged(value, 0, typed, live, shared or None)).encode()


MUTABLE = (list, dict, set, bytearray)
"""The containers a call can change in place, whose identity a test may check (``out is xs``)."""


def _repeated(value: object) -> dict[int, list]:
    """The mutable containers ``value`` holds more than once, by id: ``[alias number, 0]`` each (a
    container that holds itself stays no plain data: ``_tagged``). Containers only are visited: a
    reply of scalars costs a look at each of them, no more."""
    seen: set[int] = set()
    shared: dict[int, list] = {}
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        if isinstance(item, MUTABLE):
            if id(item) in seen:
                shared.setdefault(id(item), [len(shared), 0])
                continue
            seen.add(id(item))
        if isinstance(item, dict):
            children = [part for pair in item.items() for part in pair if type(part) not in _SCALARS]
        elif isinstance(item, list | tuple | set | frozenset):
            children = [child for child in item if type(child) not in _SCALARS]
        else:
            continue
        stack.extend((child, depth + 1) for child in children)
    return shared


def _tagged(value: object, depth: int, typed: int, live: Live | None,  # noqa: PLR0911 - a branch a type
            shared: dict[int, list] | None = None) -> object:
    kind = type(value)
    if kind in _SCALARS:
        if kind is int and value.bit_length() > _LONGEST_DECIMAL_BITS:  # json writes ints in decimal
            return {"x": hex(value)}
        return value
    if depth > MAX_DEPTH:
        raise NotPlainData("a value nested deeper than 200 levels")
    if shared is not None and id(value) in shared:
        alias = shared[id(value)]  # [number, 0 not yet written, 1 being written, 2 written]
        if alias[1] == 1:
            raise NotPlainData("a container that holds itself")
        if alias[1] == 2:
            return {"at": alias[0]}
        alias[1] = 1
        written = _untracked(value, depth, typed, live, shared)
        alias[1] = 2
        return {"al": [alias[0], written]}
    return _untracked(value, depth, typed, live, shared)


def _untracked(value: object, depth: int, typed: int, live: Live | None,  # noqa: PLR0911 - a branch a type
               shared: dict[int, list] | None) -> object:
    kind = type(value)
    depth += 1
    if kind is list:
        run = _scalar_run(value, depth) if typed == REPLY and len(value) >= MIN_RUN else None
        return run if run is not None else [_tagged(item, depth, typed, live, shared) for item in value]
    if kind is tuple:
        return {"t": [_tagged(item, depth, typed, live, shared) for item in value]}
    if kind is dict:
        return {"d": [[_tagged(k, depth, typed, live, shared), _tagged(v, depth, typed, live, shared)]
                      for k, v in value.items()]}
    if kind is set or kind is frozenset:
        return {"s" if kind is set else "f": [_tagged(item, depth, typed, live, shared) for item in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    if kind in RECORDS:
        return _record(value)
    return _object(value, depth, typed, live, shared)


MIN_RUN = 8
"""Fewest items of a list of numpy scalars that crosses as one run (``_scalar_run``)."""


def _scalar_run(items: list, depth: int) -> dict | None:
    """``{"n": [module, qualname, values, facts]}`` for a list of numpy numbers or bools of one
    type (a reply's ``list(array)``), each value plain, the class said once, else None: tagged one
    by one, the 99,001 ``float64``s of a correct ``moving_average`` made 19.5 MB, past the message
    limit, and took more CPU to read than the tests may use."""
    numpy = sys.modules.get("numpy")
    kind = type(items[0])
    if numpy is None or kind.__module__ != "numpy" or not issubclass(kind, numpy.number | numpy.bool_) \
            or any(type(item) is not kind for item in items):
        return None
    values = [_tagged(item.tolist(), depth, 0, None) for item in items]
    return {"n": [kind.__module__, kind.__qualname__, values, _tagged_facts(items[0], kind, depth)]}


def _object(value: object, depth: int, typed: int, live: Live | None,  # noqa: PLR0911 - a way a kind
            shared: dict[int, list] | None = None) -> object:
    """A value of no plain type: an iterator's items, a plain type's subclass as its base value (with
    its class, ``typed``), and on live tasks a proxy's or an object's name (``live``)."""
    kind = type(value)
    if kind in PROXY_CLASSES or value is NotImplemented:  # the other side's object, never looked into;
        if live is None:  # NotImplemented: what a special method may answer
            raise NotPlainData(f"a {kind.__name__}")
        return {"ni": 0} if value is NotImplemented else live(value)
    if typed == REPLY and live is not None and kind.__module__ == PROGRAM_MODULE and not hasattr(
            kind, "_member_map_"):
        # on a live task an object of the program's own class stays there whatever it derives from
        # (an LRUCache(OrderedDict) crossed as a dict, without its put); an enum member crosses as one
        with contextlib.suppress(NotPlainData):  # (a task whose objects do not cross: as below)
            return live(value)
    if hasattr(value, "__next__") and hasattr(value, "__iter__"):  # an iterator: its items, read here,
        if live is not None:  # or, where it may stay on its side (the tests'), each asked for in turn
            with contextlib.suppress(NotPlainData):
                return live(value)
        return {"it": [_tagged(item, depth, typed, live, shared) for item in _items(value)]}
    try:
        coerced = _tagged(_coerced(value, typed), depth, typed, live, shared)
    except NotPlainData:
        if live is None:
            raise
        return live(value)  # an object that stays on this side, named
    if not typed:
        return coerced
    return {"o": [str(kind.__module__), str(kind.__qualname__), coerced, _tagged_facts(value, kind, depth)]}


def _tagged_facts(value: object, kind: type, depth: int) -> object:
    """``_facts`` of ``value``, tagged; once per class where they are its class's alone (all but an
    enum member's name, a defaultdict's factory, an array's dtype or typecode): tagging each value's
    ancestry again, a list of 78,498 numpy ints took 2.5 s of its program's CPU limit to cross."""
    try:
        own = isinstance(value, collections.defaultdict | array.array) or bool(getattr(value, "ndim", 0)) \
            or type(getattr(value, "_name_", None)) is str
    except Exception:  # noqa: BLE001 - a hostile class: _facts says what it can of it
        own = True
    if own:
        return _tagged(_facts(value, kind), depth, 0, None)
    found = _CLASS_FACTS.get(kind)
    if found is None:
        found = _CLASS_FACTS[kind] = _tagged(_facts(value, kind), depth, 0, None)
    return found


_CLASS_FACTS: weakref.WeakKeyDictionary[type, object] = weakref.WeakKeyDictionary()
"""Each class's tagged facts (``_tagged_facts``), dropped with the class (a job's classes in a test
process that lives for many)."""


def _facts(value: object, kind: type) -> dict:
    """What the tests need to know of a typed value's class beyond its name, to rebuild it as it is or
    not at all: its ancestry (``bases``, ``[module, qualname]`` each, itself first: a program's own
    ``class PortError(Exception)`` was taken for the reference's ``PortError(ValueError)`` of that
    name), a named tuple's ``fields`` (one with other fields than the reference's got the
    reference's), an enum member's ``name``, a defaultdict's ``factory`` where it is a built-in type."""
    facts: dict = {}
    try:
        facts["bases"] = [[str(c.__module__), str(c.__qualname__)]
                          for c in kind.__mro__[:MAX_RELAYED_BASES + 1]]
        fields = getattr(kind, "_fields", None) if isinstance(value, tuple) else None
        if type(fields) is tuple and all(type(f) is str for f in fields):
            facts["fields"] = list(fields)
        name = getattr(value, "_name_", None)  # an enum member's
        if type(name) is str:
            facts["name"] = name
        factory = value.default_factory if isinstance(value, collections.defaultdict) else None
        if factory is not None and factory in FACTORIES:
            facts["factory"] = factory.__name__
        if kind.__module__.partition(".")[0] == "numpy" and getattr(value, "ndim", 0):
            facts["dtype"] = str(value.dtype)  # an array's: a float32 array came back float64
        if isinstance(value, array.array):
            facts["typecode"] = value.typecode
    except Exception:  # noqa: BLE001 - a hostile class: its name alone, a stand-in of it in the tests
        return {}
    return facts


def remade(module: str, qualname: str, value: object, facts: dict) -> object:
    """A dict view or an ``array.array`` that crossed as the list of its items, as one again (None
    where ``value`` cannot make one): as a class of that name on list, ``d.keys() == [1, 2]`` held
    where one process says False (a wrong program returning ``.keys()`` passed), and
    ``d.keys() == {1, 2}`` failed where it holds."""
    if type(value) is not list:
        return None
    try:
        if module == "builtins" and qualname in _VIEW_OF:
            return _VIEW_OF[qualname](value)
        typecode = facts.get("typecode")
        if (module, qualname) == ("array", "array") and type(typecode) is str and typecode in _TYPECODES:
            return array.array(typecode, value)
    except (TypeError, ValueError, OverflowError):  # keys no longer hashable, items of another type
        return None
    return None


_VIEW_OF: dict[str, Callable[[list], object]] = {
    # built item by item, so that the test process's CPU timer can stop a build of keys that all
    # hash alike (in one C call, dict.fromkeys of 400,000 such ints ran 4 s past a 1 s limit: an
    # attacker's trial)
    "dict_keys": lambda items: {item: None for item in items}.keys(),
    "dict_values": lambda items: dict(enumerate(items)).values(),
    "dict_items": lambda items: {key: value for key, value in items}.items(),  # noqa: C416 - see above
}
_TYPECODES = frozenset(array.typecodes)


FRACTION_BITS = 1 << 16
"""Largest numerator or denominator (bits) a Fraction crosses with: making one runs gcd over both in one
C call the tests' CPU timer cannot stop (two of 16 million random bits would take minutes; an attacker's
pair ran 4 s past a 1 s limit). A larger one is a reply the tests cannot read."""


FACTORIES = (int, float, str, bytes, list, tuple, dict, set, frozenset, bool, complex)
"""The defaultdict factories that cross by name (a function cannot)."""
FACTORY_NAMED = {factory.__name__: factory for factory in FACTORIES}


PROXY_CLASSES: set[type] = set()
"""The proxy classes of the other side's objects (judge.Remote, runner.TestObject): named at once,
never looked into (their attributes would be messages)."""


def _record(value: object) -> dict:
    if type(value) is datetime.timedelta:
        return {"timedelta": [value.days, value.seconds, value.microseconds]}
    if type(value) is decimal.Decimal:
        return {"decimal": str(value)}
    if type(value) is range:  # as its three numbers: range(10**12) crosses as small as range(3)
        return {"range": [value.start, value.stop, value.step]}
    if type(value) is fractions.Fraction:  # exactly: as a float, Fraction(1, 3) == 1 / 3 held
        return {"fraction": [value.numerator, value.denominator]}
    if type(value) in (datetime.datetime, datetime.time) and value.tzinfo is not None and not isinstance(
            value.tzinfo, datetime.timezone):
        raise NotPlainData(f"a {type(value).__name__} with a {type(value.tzinfo).__name__} time zone")
    return {type(value).__name__: value.isoformat()}


RECORDS = (datetime.date, datetime.datetime, datetime.time, datetime.timedelta, decimal.Decimal, range,
           fractions.Fraction)
"""The standard library's plain records (a tag each: ``_record``)."""


MAX_ITEMS = 100_000
"""Most items an iterator crossing gives: one that goes on is no plain data (a generator of every
prime), where reading it all would never end."""


def _items(iterator: object) -> list:
    """An iterator's items (at most MAX_ITEMS; NotPlainData beyond). It crosses as an iterator over
    them: a correct program returning ``map(...)`` or a generator, which its tests read with
    ``list()``, was an error, and tests handing the program a generator ran unverified."""
    try:
        items = list(itertools.islice(iterator, MAX_ITEMS + 1))
    except BaseException as exc:  # noqa: BLE001 - raised by the iterator's own code: the caller's to relay
        raise IteratorRaised(exc) from None
    if len(items) > MAX_ITEMS:
        raise NotPlainData(f"an iterator of more than {MAX_ITEMS} items")
    return items


_EXACT = ((bool, bool), (int, int.__int__), (float, float.__float__), (str, str.__str__),
          (bytes, bytes.__bytes__), (complex, complex.__complex__), (list, list.copy),
          (tuple, lambda value: tuple.__getitem__(value, slice(None))), (dict, dict.copy),
          (frozenset, frozenset.copy), (set, set.copy))
"""Each plain type and how its subclass's value is read as that type itself, never through the
subclass's own methods: a ``class Answer(str, Enum)`` member's ``str()`` is ``Answer.YES``, and a
correct program returning one failed; a list subclass's ``__iter__`` could hide its items."""
_VIEWS = (type({}.keys()), type({}.values()), type({}.items()), collections.deque)
_MAPPING_PROXY = type(type.__dict__)


def _coerced(value: object, typed: int) -> object:  # noqa: PLR0911 - a way a type a branch
    """Subclasses of plain types as their base value, numbers (numpy's too) as int or float; a numpy
    array in a reply as its ``tolist()`` (``typed``: it is rebuilt where the tests import numpy). An
    array the tests pass is no plain data: as a list, what the program did to it in place came back
    to no array, and a wrong program that sorted it passed."""
    for base, exact in _EXACT:
        if isinstance(value, base):
            return exact(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, _VIEWS):  # dict views and deques: their items, in their order
        return list(value)
    if isinstance(value, _MAPPING_PROXY):  # a class's __dict__, a read-only view of a dict
        return dict(value)
    if type(value).__module__.partition(".")[0] not in _NUMBER_MODULES:
        # an object of another class that reads as a number or a list crossed as that, and a wrong
        # program whose object only had __index__ or tolist() passed as the right number or list
        raise NotPlainData(f"a {type(value).__name__}")
    if hasattr(value, "tolist") and (typed == REPLY or getattr(value, "ndim", 0) == 0):  # numpy's, array's
        return value.tolist()  # (before __index__, which an array refuses with its own words)
    if getattr(value, "ndim", 0):
        raise NotPlainData(f"a {type(value).__name__}")
    if hasattr(value, "__index__"):
        return int(value.__index__())
    if hasattr(value, "__float__") and hasattr(value, "__round__"):  # numpy's floats
        return float(value)
    raise NotPlainData(f"a {type(value).__name__}")


_NUMBER_MODULES = frozenset({"numpy", "array"})
"""Whose numbers and arrays cross as the int, float or list they read as (numpy's scalars and arrays,
the standard library's ``array.array``)."""


def decode(data: bytes, json_decoder: json.JSONDecoder | None = None) -> object:
    """A value from tagged JSON bytes; raises ValueError (or RecursionError) on anything else."""
    try:
        return (json_decoder or _DECODER).decode(data.decode())
    except (ValueError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - a tag's constructor refusing its payload
        # {"decimal": "lots"}, {"timedelta": [1e11, 0, 0]}, {"s": [{"t": [[1]]}]} raised
        # decimal.InvalidOperation, OverflowError and TypeError past this contract
        raise ValueError(f"a tag whose payload its type refuses ({type(exc).__name__})") from None


def decoder(typed: Callable[[str, str, object, object], object] | None = None,
            live: Callable[[str, object], object] | None = None,
            aliases: dict[int, object] | None = None,
            typed_run: Callable[[str, str, list, object], list] | None = None) -> json.JSONDecoder:
    """A decoder for ``decode`` that also reads ``encode(typed=...)``'s tags: ``{"o": [module,
    qualname, value, facts]}`` becomes ``typed(module, qualname, value, facts)``, both decoded already,
    and a run ``{"n": [module, qualname, values, facts]}`` the list ``typed_run`` makes of it (each
    value through ``typed`` where there is none); given ``live``, the live tags: ``{"r": payload}``
    becomes ``live("r", payload)`` (``"q"`` alike); given ``aliases`` (emptied before each message),
    ``encode``'s alias tags: one object where it was."""
    def made_run(run: object) -> list:
        if type(run) is not list or len(run) != 4 or not all(type(n) is str for n in run[:2]) \
                or type(run[2]) is not list:
            raise ValueError("an n tag that is not [module, qualname, values, facts]")
        if typed_run is not None:
            return typed_run(run[0][:200], run[1][:200], run[2], run[3])
        return [typed(run[0][:200], run[1][:200], value, run[3]) for value in run[2]]

    def hook(obj: dict) -> object:
        if typed is not None and len(obj) == 1 and "n" in obj:
            return made_run(obj["n"])
        if aliases is not None and len(obj) == 1 and ("al" in obj or "at" in obj):
            return _alias(obj, aliases)
        if len(obj) == 1 and live is not None and ("r" in obj or "q" in obj):
            (tag, payload), = obj.items()
            return live(tag, payload)
        if live is not None and obj == {"ni": 0}:
            return NotImplemented
        payload = obj.get("o") if len(obj) == 1 and typed is not None else None
        if payload is None:
            return _untag(obj)
        if type(payload) is not list or len(payload) not in (3, 4) or not all(
                type(n) is str for n in payload[:2]):
            raise ValueError("an o tag that is not [module, qualname, value, facts]")
        facts = payload[3] if len(payload) == 4 else None
        return typed(payload[0][:200], payload[1][:200], payload[2], facts)

    return json.JSONDecoder(object_hook=hook)


def _special(name: str) -> Callable:
    """The special method ``name`` of an object's class applied to it, NotImplemented where it has
    none: the other side's Python then tries the reflected one, as it would in one process (applying
    ``==`` itself here reflected to the other side's proxy, which asked back: for ever)."""
    def apply(obj: object, *args: object) -> object:
        method = getattr(type(obj), name, None)
        return NotImplemented if method is None else method(obj, *args)
    return apply


_COMPARED_OR_BINARY = ("eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "matmul", "truediv",
                       "floordiv", "mod", "divmod", "pow", "lshift", "rshift", "and", "or", "xor")
def _alias(obj: dict, aliases: dict[int, object]) -> object:
    if "al" in obj:
        payload = obj["al"]
        if type(payload) is not list or len(payload) != 2 or type(payload[0]) is not int \
                or type(payload[1]) not in (list, dict, set) and not isinstance(payload[1], MUTABLE):
            raise ValueError("an al tag that is not [number, container]")
        aliases[payload[0]] = payload[1]
        return payload[1]
    if obj["at"] not in aliases:
        raise ValueError("an at tag naming no container before it")
    return aliases[obj["at"]]


OPERATIONS: dict[str, Callable] = {
    "__len__": len, "__iter__": iter, "__next__": next, "__reversed__": reversed, "__bool__": bool,
    "__str__": str,
    "__repr__": repr, "__format__": format, "__hash__": hash, "__int__": int, "__float__": float,
    "__complex__": complex, "__index__": operator.index, "__round__": round, "__neg__": operator.neg,
    "__pos__": operator.pos, "__abs__": abs, "__invert__": operator.invert, "__contains__": operator.contains,
    "__getitem__": operator.getitem, "__setitem__": operator.setitem, "__delitem__": operator.delitem,
    "__instancecheck__": lambda cls, instance: isinstance(instance, cls),
    "__subclasscheck__": lambda cls, subclass: issubclass(subclass, cls),
    **{name: _special(name) for op in _COMPARED_OR_BINARY for name in (
        (f"__{op}__",) if op in ("eq", "ne", "lt", "le", "gt", "ge") else
        (f"__{op}__", f"__r{op}__") if op == "divmod" else (f"__{op}__", f"__r{op}__", f"__i{op}__"))},
}
"""What one side may ask the other to do to an object that stays there (live tasks), beside calling
it and reading or setting its attributes, by the special method a proxy has for it (``a == b``,
``len(a)``, ``x in a``, ``str(a)``, ``a + 1``, ``1 + a``, ``isinstance(x, a)``): each applied where the
object is, to it (first) and the other operands as objects of that side."""


def special_methods(relay: Callable[[str, tuple], object]) -> dict[str, Callable]:
    """A proxy class's special methods (judge.Remote, runner.TestObject), by name: each asks the side
    that holds the object to apply it there (``relay(name, (proxy, *operands))``)."""
    def method(name: str) -> Callable:
        return lambda self, *args: relay(name, (self, *args))
    return {name: method(name) for name in OPERATIONS}


def _untag(obj: dict) -> object:  # noqa: PLR0911 - one branch per tag
    if len(obj) != 1:
        raise ValueError("a JSON object that is not one tag")
    (tag, payload), = obj.items()
    if tag == "t" and type(payload) is list:
        return tuple(payload)
    if tag == "d" and type(payload) is list:
        if not all(type(pair) is list and len(pair) == 2 for pair in payload):
            raise ValueError("a dict tag whose items are not pairs")
        return {_hashable(k): v for k, v in payload}
    if tag == "s" and type(payload) is list:
        return {_hashable(item) for item in payload}
    if tag == "f" and type(payload) is list:
        return frozenset(_hashable(item) for item in payload)
    if tag == "b" and type(payload) is str:
        return bytes.fromhex(payload)
    if tag == "x" and type(payload) is str and len(payload) <= MAX_MESSAGE // 2:
        return int(payload, 16)
    if tag == "c" and type(payload) is list and len(payload) == 2 and all(
            type(part) in (int, float) for part in payload):
        return complex(*payload)
    return _record_from(tag, payload)


def _record_from(tag: str, payload: object) -> object:
    """The standard library record a tag names (``_record``'s inverse)."""
    if tag in _FROM_ISO and type(payload) is str:
        return _FROM_ISO[tag](payload)
    if tag == "decimal" and type(payload) is str:
        return decimal.Decimal(payload)
    if tag in ("timedelta", "range") and type(payload) is list and len(payload) == 3 and all(
            type(part) is int for part in payload):
        return datetime.timedelta(*payload) if tag == "timedelta" else range(*payload)
    if tag == "fraction" and type(payload) is list and len(payload) == 2 and all(
            type(part) is int and part.bit_length() <= FRACTION_BITS for part in payload):
        return fractions.Fraction(*payload)
    if tag == "it" and type(payload) is list:
        return iter(payload)
    raise ValueError(f"unknown tag {tag[:20]!r}")


_FROM_ISO = {"date": datetime.date.fromisoformat, "datetime": datetime.datetime.fromisoformat,
             "time": datetime.time.fromisoformat}


def _hashable(value: object) -> object:
    if type(value) in (list, dict, set):
        raise ValueError("an unhashable key")
    return value


def frame(payload: bytes) -> bytes:
    """Length-prefixed payload, as ``read_frame`` reads it."""
    return _HEADER.pack(len(payload)) + payload


def frame_size(header: bytes) -> int:
    """The payload size a 4-byte header announces; ValueError above MAX_MESSAGE."""
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes (the limit is {MAX_MESSAGE})")
    return size


# Made once: json.dumps and json.loads with any option build a new encoder or decoder per call,
# and both sides call these for every call of the candidate.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_untag)
