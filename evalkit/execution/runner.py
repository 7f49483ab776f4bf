"""What runs in the program's process, forked from the spawner: set-up, then the program.

Set-up (``prepare``) makes the process the program's sandbox: its own session, mount and
IPC namespaces with fresh tmpfs ``/tmp`` and ``/dev/shm``, the slot's unprivileged uid,
rlimits (the seccomp filter it inherits from the fork server). It reports failure on
the set-up pipe and closes it before the first line of the program runs, so nothing the
program writes is ever read as evalkit's failure.

Then, on the split path (``serve``), the program is compiled and executed as a module and
its entry point is served to the test process over the channel (fd ``CHANNEL_FD``): one
request ``[args, kwargs]`` in, one reply out, plain data only (plain.py). The first message
says whether the program loaded. On a live task (its tests and program hold each other's
objects: an ``LRUCache`` the tests use, a clock or a callback the tests hand over) the objects
stay where they were made: a request may also be ``[args, kwargs, verb, name, handle]``, a use
of one of the program's objects the tests hold, and while it runs the program may ask the
tests to use one of theirs (``["callback", ..]``, answered like a call), so either side's
code runs only in its own process. On the in-process path (``run_in_process``: tasks whose
tests cannot be split, and JavaScript under node) code and tests run here and a
per-program token on the result pipe says the tests returned; those verdicts are unverified.
"""

from __future__ import annotations

import _signal
import builtins
import collections
import os
import resource
import sys
import types

import isolation  # sibling modules: the worker puts this folder on sys.path
import plain

CHANNEL_FD = 3
"""The program's end of the channel to the test process (split path)."""
RESULT_FD = 3
"""The in-process path's result pipe (no channel there)."""
TOKEN_FD = 4
SETUP_FD = 5
"""The set-up pipe: 'ok', or what failed, then closed before the program runs."""
EXIT_INFRA = 111
EXIT_LOST = 112
READ_CHUNK = 1 << 16

# Bound at import: a program may replace builtins and os functions before we report on it.
_TYPE, _STR, _WRITE, _READ, _EXIT = type, str, os.write, os.read, os._exit


def child(plan: dict, fds: dict) -> None:
    """Runs in the forked child; never returns, whatever the program does.

    ``plan``: the spawner's settings for this program (limits, uid, mounts, mode);
    ``fds``: descriptors by role (``code``, ``out``, ``setup``, ``channel`` or ``result``, and
    ``cgroup``, its slot's cpuacct cgroup.procs, and ``slot_groups``, those of its memory and cpu
    cgroups, where the slots have them).
    """
    try:
        code, tests = prepare(plan, fds)
    except BaseException as exc:  # our side failed: never blame the program
        try:
            _WRITE(fds["setup"], ("%s: %s" % _describe(exc)).encode("utf-8", "replace")[:2000])
        finally:
            _EXIT(EXIT_INFRA)
    try:
        if plan["language"] == "javascript":
            exec_node(plan, f"{code}\n{tests}")
        elif plan["mode"] in ("split", "live"):
            serve(code, plan["entry_point"], live=plan["mode"] == "live")
        else:
            run_in_process(code, tests, plan["token"])
    finally:
        _EXIT(EXIT_LOST)


def prepare(plan: dict, fds: dict) -> tuple[str, str]:
    """Set the process up as the program's sandbox; returns the program's text and, on the
    in-process path, the tests' (the memory file holds both: see ``split_text``).

    Each step is a plain call: the child writes few pages, since each page it writes costs a
    copy-on-write fault. Everything the program could use to reach evalkit is closed here.
    """
    if "cgroup" in fds:  # its slot's CPU clock counts it and every process it starts (spawner.Spawner)
        os.write(fds["cgroup"], b"0")
    for group in fds.get("slot_groups", ()):  # memory: out of it, the kernel ends a process of this
        os.write(group, b"0")  # slot, none other's; cpu: all the program's processes share one weight
    os.setsid()
    # The kernel ends a program's process first when the worker's memory runs out, never the fork
    # server or a test process (a program's memory need not show in its own size: a tmpfs file).
    try:
        isolation.set_oom_score_adj(1000)
    except OSError:  # a /proc that refuses it (some container runtimes): the cgroup's limit still holds
        pass
    code, tests = split_text(_read_all(fds["code"]))
    # The spawner numbered every descriptor the child gets 100 or above: plain dup2s place them.
    os.dup2(fds["null"], 0)
    os.dup2(fds["out"], 1)
    os.dup2(fds["out"], 2)
    os.dup2(fds["result"] if plan["mode"] == "in_process" else fds["channel"], 3)
    os.dup2(fds["setup"], SETUP_FD)
    setup = fds["setup"] = SETUP_FD  # where a set-up failure is reported from now on
    os.closerange(4, SETUP_FD)
    os.closerange(SETUP_FD + 1, 1 << 16)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # the spawner ignores SIGINT
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # the spawner's wake-up is not the program's
    _signal.set_wakeup_fd(-1)
    if plan["private_mounts"]:
        isolation.private_scratch()  # the environment names /tmp: the spawner set it once
        os.chdir("/tmp")  # the new tmpfs, not the directory under it
    else:
        os.chdir(plan["workdir"])
        os.environ.update({"HOME": plan["workdir"], "TMPDIR": plan["workdir"]})
    if plan["uid"] is not None:
        isolation.become(plan["uid"])
        # A uid change makes a process non-dumpable, its /proc/self root's: give the program
        # its own /proc/self back (no other process runs as this slot's uid; ptrace is refused).
        isolation.prctl(isolation.PR_SET_DUMPABLE, 1)
    for which, soft, hard in plan["limits"]:
        resource.setrlimit(which, (soft, hard))
    if plan["language"] == "python":
        # Sub-second CPU precision; RLIMIT_CPU is the backstop if the program disarms it.
        _signal.setitimer(_signal.ITIMER_PROF, plan["limit"])
    os.write(setup, b"ok")
    os.close(setup)
    return code, tests


def _level_the_stack(below: int) -> None:
    """Raise the recursion limit by the frames this process stands on (forked deep in the fork
    server's loop) less ``below``: the candidate gets the depth it has in one process, where a
    correct program 992 deep (one process allows 997) was a RecursionError."""
    depth, frame = 0, sys._getframe(1)
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(sys.getrecursionlimit() + depth - below)


def split_text(data: bytes) -> tuple[str, str]:
    """(code, tests) from the memory file: the code's length in bytes, a newline, the code, the tests."""
    head, _, rest = data.partition(b"\n")
    size = int(head)
    return (rest[:size].decode("utf-8", "surrogateescape"), rest[size:].decode("utf-8", "surrogateescape"))


def _read_all(fd: int) -> bytes:
    """The whole memory file from its start (the harness's write left its offset at the end)."""
    parts, offset = [], 0
    while chunk := os.pread(fd, READ_CHUNK, offset):
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)


def _describe(exc: BaseException, longest: int = 2000) -> tuple[str, str]:
    try:
        return _STR(_TYPE(exc).__name__), _STR(exc)[:longest]
    except BaseException:  # a hostile __str__ must not hide the verdict
        return "Exception", "<unprintable>"


def _raised(exc: BaseException, depth: int = 0) -> list:
    """The ``raise`` reply for ``exc``: its class's name, its message, its class's ancestry (itself
    first) as ``[module, qualname]`` pairs, its ``args`` where they are plain data (else None), and
    its attributes that are: the test process re-creates it as the class its tests would catch in
    one process, with what they would read of it (judge.relayed)."""
    try:
        ancestry = _TYPE(exc).__mro__[:plain.MAX_RELAYED_BASES + 1]
        classes = [[_STR(c.__module__), _STR(c.__qualname__)] for c in ancestry]
    except BaseException:  # a hostile metaclass must not hide the verdict
        classes = []
    try:
        args = list(exc.args)
        plain.encode(args)
    except BaseException:  # not plain data (or hostile): the message stands for them
        args = None
    attributes = _attributes(exc)
    try:
        if isinstance(exc, BaseExceptionGroup) and depth < plain.MAX_GROUP_DEPTH:
            # its exceptions cross as replies of their own (its args hold them, which are no plain data)
            args = [_STR(exc.message)]
            # under a name no attribute crossing has (they never start with "__"): a prompt's
            # ValidationError kept its own `exceptions` list, which read as a group's
            attributes["__group__"] = [_raised(inner, depth + 1)[1:]
                                       for inner in exc.exceptions[:plain.MAX_GROUP_SIZE]]
    except BaseException:  # a hostile group: its class, message and attributes stand for it
        pass
    try:  # what `raise ... from` and add_note() left on it, which tests read
        notes = vars(exc).get("__notes__") if hasattr(exc, "__dict__") else None
        if _TYPE(notes) is list and all(_TYPE(note) is str for note in notes):
            attributes["__notes__"] = notes[:plain.MAX_GROUP_SIZE]
        cause = exc.__cause__
        if isinstance(cause, BaseException) and depth < plain.MAX_GROUP_DEPTH:
            attributes["__cause__"] = _raised(cause, depth + 1)[1:]
    except BaseException:  # a hostile exception: the rest stands for it
        pass
    return ["raise", *_describe(exc, plain.MAX_RELAYED_MESSAGE), classes, args, attributes]


def _attributes(exc: BaseException) -> dict:
    """``exc``'s attributes that are plain data, by name: what its constructor set beside ``args``
    (``JSONDecodeError``'s ``pos``, ``CalledProcessError``'s ``output``, a program's own class's
    ``self.field``) and OSError's file names, which its ``args`` leave out."""
    found: dict = {}
    try:
        named = dict(vars(exc)) if hasattr(exc, "__dict__") else {}
        if isinstance(exc, OSError):  # those it has: a filename2 of None set there prints "... -> None"
            named.update((name, value) for name, value in (("filename", exc.filename),
                                                           ("filename2", exc.filename2)) if value is not None)
        for name, value in _class_attributes(exc).items():
            named.setdefault(name, value)
        for name, value in named.items():
            if len(found) == plain.MAX_RELAYED_ATTRIBUTES:
                break
            if _TYPE(name) is str and not name.startswith("__"):
                try:
                    plain.encode(value)
                except BaseException:  # not plain data: the tests cannot read it from here
                    continue
                found[name] = value
    except BaseException:  # a hostile __dict__: the class and args stand for it
        return {}
    return found


def _class_attributes(exc: BaseException) -> dict:
    """The public attributes ``exc`` has from its classes (those no built-in defines): values and
    properties, as read from it. Instance attributes alone crossed, and a correct program's
    ``class NotFound(APIError): status_code = 404`` read as no ``status_code`` in the tests (a
    fidelity tester's trial)."""
    found: dict = {}
    for cls in _TYPE(exc).__mro__:
        if cls.__module__ == "builtins":
            continue
        for name, held in list(vars(cls).items()):
            if _TYPE(name) is not str or name.startswith("_") or name in found:
                continue
            if isinstance(held, property) or not hasattr(held, "__get__"):  # not a method
                try:
                    found[name] = getattr(exc, name)
                except Exception:  # noqa: BLE001, S112 - a property that raises: not an attribute to read
                    continue
    return found


def _send(message: object) -> None:
    _send_bytes(plain.encode(message))


def _receive() -> bytes | None:
    """The next request's bytes, or None when the test process closed the channel."""
    head = _read_exact(4)
    if head is None:
        return None
    return _read_exact(plain.frame_size(head))


def _read_exact(n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = _READ(CHANNEL_FD, min(left, READ_CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


NOT_COMPILED = (SyntaxError, ValueError, RecursionError, MemoryError)
"""What compiling a program raises where it is no Python: ValueError for a null byte, RecursionError
or MemoryError for nesting deeper than the compiler goes (`not not ... x` 10,000 times was an
`error`, "exited with code 112"). The harness checks a reported syntax error with the same tuple
(``evalkit.postprocess.completion.NOT_PARSED``; this module runs apart from the package)."""


def _load(source: str, entry_point: str):
    """Compile and execute the program as module ``solution``; its entry point, or None after
    reporting why it did not load."""
    try:
        # dont_inherit: this file's `from __future__ import annotations` must not leak into the program
        code = compile(source, "solution.py", "exec", dont_inherit=True)
    except NOT_COMPILED as exc:
        _send(["syntax_error", *_describe(exc)])
        return None
    module = types.ModuleType(plain.PROGRAM_MODULE)
    module.__dict__["__builtins__"] = builtins
    sys.modules[plain.PROGRAM_MODULE] = module  # dataclasses, pickle and typing look the module up there
    try:
        exec(code, module.__dict__)  # noqa: S102 - the sandboxed child
        function = module.__dict__[entry_point]
    except KeyError:
        _send(["error", "NameError", f"name {entry_point!r} is not defined"])
        return None
    except BaseException as exc:
        _send(["error", *_describe(exc)])
        return None
    return function


def serve(source: str, entry_point: str, live: bool = False) -> None:
    """Split path: load the program, then answer the test process's calls until it hangs up."""
    _level_the_stack(1)  # the candidate is called two frames below this one; in one process, at 3
    function = _load(source, entry_point)
    if function is None:
        _EXIT(0)
    if live:
        _share(function)  # handle 0: the candidate the tests hold
    _serving[:] = [function, live]
    _send(["ready"])
    while True:
        request = _receive()
        if request is None:
            _EXIT(0)
        _reply(request, plain.decode(request, _LIVE_DECODER), function, live)


def _reply(request: bytes, arguments: list, function, live: bool) -> None:
    """Answer one request of the tests: the call's ``return`` or ``raise`` reply, or ``unplain``."""
    share = _share if live else _name_test_object
    try:
        if len(arguments) == 2:
            result = function(*arguments[0], **arguments[1])
        elif arguments[2] == "call":  # here, at the entry point's depth (_apply is a frame deeper)
            result = _objects[arguments[4]](*arguments[0], **arguments[1])
        else:
            result = _apply(*arguments)
    except BaseException as exc:
        data = plain.encode(_raised(exc))
    else:
        try:
            data = b'["return",' + plain.encode(result, typed=plain.REPLY, live=share, aliases=True) + b"]"
        except plain.IteratorRaised as raised:  # reading the iterator it returned raised: so does the call
            data = plain.encode(_raised(raised.exception))
        except plain.UNPLAIN as exc:
            _send(["unplain", _STR(exc)[:200]])
            return
    try:
        # then the arguments as the call left them (bytes: encoded once), and which of them it returned
        data = data[:-1] + b"," + _changed(arguments, request, share) + b"]"
    except (*plain.UNPLAIN, plain.IteratorRaised) as exc:
        _send(["unplain", _STR(exc)[:200] + " in its arguments"])
        return
    if data.startswith(b'["return",'):
        data = data[:-1] + b"," + plain.encode(_returned_argument(result, arguments)) + b"]"
    data = plain.frame(data)
    while data:
        data = data[_WRITE(CHANNEL_FD, data):]


def _apply(args: list, kwargs: dict, verb: str, name: str, handle: int | None) -> object:
    """A use of one of the program's objects the tests hold (live tasks), here, as one process would."""
    if verb == "op":
        return plain.OPERATIONS[name](*args, **kwargs)
    target = _objects[handle]
    if verb == "call":
        return target(*args, **kwargs)
    if verb == "get":
        return getattr(target, name)
    if verb == "set":
        return setattr(target, name, args[0])
    return delattr(target, name)


_serving: list = []
"""The entry point and whether objects cross live (``serve``): what a request of the tests made
while they answer the program (``_callback``) is served with."""
_objects: list = []
"""The program's objects the tests hold (live tasks), by handle; kept alive as long as this process."""
_handles: dict[int, int] = {}
"""Each of those objects' handle, by id(): one object is one handle, so the tests see one object."""


def _share(value: object) -> dict:
    """How an object that stays here crosses: ``{"r": [handle, ancestry]}`` (its class and the
    classes it derives from, as ``[module, qualname]``, so that ``isinstance`` in the tests sees
    the prompt's classes); a test-side object as the test process named it."""
    if _TYPE(value) in _TEST_PROXIES:
        return {"q": object.__getattribute__(value, "_payload")}
    handle = _handles.get(id(value))
    if handle is None:
        handle = _handles[id(value)] = len(_objects)
        _objects.append(value)
    try:
        ancestry = [[_STR(c.__module__), _STR(c.__qualname__)]
                    for c in _TYPE(value).__mro__[:plain.MAX_RELAYED_BASES + 1]]
    except BaseException:  # a hostile metaclass: an object of no known class
        ancestry = []
    return {"r": [handle, ancestry]}


def _name_test_object(value: object) -> dict:
    """How a value that is no plain data crosses on a task whose objects do not cross live: one of the
    tests' objects (an iterator they handed over) as they named it; nothing else."""
    if _TYPE(value) in _TEST_PROXIES:
        return {"q": object.__getattribute__(value, "_payload")}
    raise plain.NotPlainData(f"a {_TYPE(value).__name__}")


def _from_tests(tag: str, payload: object) -> object:
    """A live tag in a message of the tests: one of the program's own objects, or a test object's proxy
    (one proxy an object: ``iter(x) is x`` holds for an iterator the tests handed over)."""
    if tag == "r":
        return _objects[payload[0]]
    proxy = _test_proxies.get(payload[0])
    if proxy is None:
        kind = TestIterator if len(payload) == 3 and payload[2] else TestObject
        proxy = _test_proxies[payload[0]] = kind(payload)
    return proxy


_test_proxies: dict[int, object] = {}
"""The proxy of each of the tests' objects the program holds, by the tests' handle."""


def _typed_here(module: str, qualname: str, value: object, facts: object = None) -> object:
    """A value the tests passed as they had it (a ``Counter``, an ``OrderedDict``, a ``deque``, a
    ``defaultdict``, the prompt's NamedTuple or IntEnum: their class's name crosses with it), else
    the plain value: arriving plain, a correct program's ``most_common`` or ``.x`` was an error."""
    facts = facts if _TYPE(facts) is dict else {}
    made = plain.remade(module, qualname, value, facts)
    if made is not None:
        return made
    if module == "collections":
        cls = {"Counter": collections.Counter, "OrderedDict": collections.OrderedDict,
               "deque": collections.deque, "defaultdict": collections.defaultdict}.get(qualname)
    elif module == "__main__":  # the prompt's classes, which the program's module holds too
        cls = getattr(sys.modules.get(plain.PROGRAM_MODULE), qualname, None)
    else:
        cls = None
    try:
        if cls is collections.defaultdict:
            factory = plain.FACTORY_NAMED.get(facts.get("factory"))
            return collections.defaultdict(factory, value)
        if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_make"):
            return cls._make(value) if list(cls._fields) == facts.get("fields") else value
        return cls(value) if isinstance(cls, type) else value
    except Exception:  # a class that does not take it: the plain value, as before
        return value


_LIVE_DECODER = plain.decoder(_typed_here, _from_tests)


class TestObject:
    """An object of the test process the program holds (live tasks: a clock, a callback, a prompt's
    dataclass the tests made): calling it, reading or setting its attributes and its operators are
    messages to the test process, which does them there (judge.Session.serve_callback), so the
    program never holds the tests' objects themselves. Its ``__class__`` is the program's class of
    the same name where the tests' object is one of the prompt's classes (a dataclass's ``==``
    compares classes)."""

    __slots__ = ("_payload",)

    def __init__(self, payload: object) -> None:
        object.__setattr__(self, "_payload", payload)

    def __call__(self, *args, **kwargs):  # noqa: D102 - each of these is a message (see the class)
        return _callback("call", "", self, args, kwargs)

    def __getattr__(self, name: str):
        return _callback("get", name, self, (), {})

    def __setattr__(self, name: str, value: object) -> None:
        _callback("set", name, self, (value,), {})

    def __delattr__(self, name: str) -> None:
        _callback("del", name, self, (), {})

    @property
    def __class__(self):  # noqa: PLE0101 - what isinstance() and a dataclass's == read
        payload = object.__getattribute__(self, "_payload")
        name = payload[1] if _TYPE(payload) is list and len(payload) == 2 and _TYPE(payload[1]) is str else ""
        module = sys.modules.get(plain.PROGRAM_MODULE)
        found = getattr(module, name, None) if name else None
        return found if isinstance(found, type) else TestObject


def _relay_operation(name: str, operands: tuple) -> object:
    """Apply the special method ``name`` in the test process to its object (``operands[0]``)."""
    return _callback("op", name, None, operands, {})


for _name, _method in plain.special_methods(_relay_operation).items():
    setattr(TestObject, _name, _method)


class TestIterator:
    """An iterator of the test process the program reads (a generator the tests hand over): its own
    iterator, each item asked for as the program reads it, and nothing else (a proxy of every
    operator looked sized and indexable, and a program checking ``iter(x) is x`` or ``len`` took
    the wrong path)."""

    __slots__ = ("_payload",)

    def __init__(self, payload: object) -> None:
        self._payload = payload

    def __iter__(self):
        return self

    def __next__(self):
        return _callback("op", "__next__", None, (self,), {})


_TEST_PROXIES = (TestObject, TestIterator)
plain.PROXY_CLASSES.update(_TEST_PROXIES)


def _callback(verb: str, name: str, target: object, args: tuple, kwargs: dict) -> object:
    """Ask the test process to use one of its objects; answer its requests meanwhile (a callback
    that uses the program's objects), then return what it returned or raise what it raised."""
    function, live = _serving
    share = _share if live else _name_test_object
    _send_bytes(plain.encode(["callback", verb, name, target, list(args), kwargs], live=share))
    while True:
        data = _receive()
        if data is None:
            _EXIT(0)
        message = plain.decode(data, _LIVE_DECODER)
        if _TYPE(message[0]) is list:  # a request of the tests made while their code ran (live tasks)
            _reply(data, message, function, live)
        elif message[0] == "return":
            return message[1]
        else:  # ["raise", name, message, builtin base]: as the tests' code raised it
            raise _raised_there(*message[1:4])


def _raised_there(name: str, message: str, base: str) -> BaseException:
    """The exception the tests' code raised, as a class of its name on the built-in it derives from."""
    found = getattr(builtins, base, None)
    cls = found if isinstance(found, type) and issubclass(found, BaseException) else Exception
    if name != cls.__name__ and name.isidentifier():
        cls = _TYPE(name, (cls,), {})
    try:
        return cls(message)
    except BaseException:  # a built-in that wants other arguments (UnicodeDecodeError's five)
        return Exception(f"{name}: {message}")


def _send_bytes(data: bytes) -> None:
    data = plain.frame(data)
    while data:
        data = data[_WRITE(CHANNEL_FD, data):]


_IMMUTABLE = frozenset({type(None), bool, int, float, str, bytes, complex})


def _returned_argument(result: object, arguments: list) -> int | str | None:
    """Which of its arguments the call returned, itself (a position, or a keyword's name), where it
    is a container that can change; else None. The tests then get their own object back, as one
    process gives them: a copy, `out is not xs` held, and a wrong program that returned its input
    where the task asked for a new list passed (a fidelity tester's trial)."""
    if not isinstance(result, plain.MUTABLE):
        return None
    if len(arguments) != 2:  # a use of one of the program's objects: its arguments are the tests'
        return None
    for position, value in enumerate(arguments[0]):
        if value is result:
            return position
    return next((name for name, value in arguments[1].items() if value is result), None)



def _changed(arguments: list, request: bytes, share=None) -> bytes:
    """The arguments as the call left them, where it changed them (sorted a list in place, added to a
    dict), else ``null``: the tests see their own values change as they would in one process (a
    program that sorted a list it must leave alone passed, its tests reading their unchanged copy).
    An object that stays on either side (live tasks) crosses as its name: it changed where it is."""
    if all(_TYPE(value) in _IMMUTABLE for value in (*arguments[0], *arguments[1].values())):
        return b"null"  # nothing a call could change: the common case costs no second encoding
    after = plain.encode(arguments, typed=plain.REPLY, live=share)
    if after == request:
        return b"null"
    return after if len(arguments) == 2 else plain.encode(arguments[:2], typed=plain.REPLY, live=share)


def _report(kind: str, name: str, message: str) -> None:
    """One line 'KIND name<TAB>message' on the result pipe (no json: it uses builtins)."""
    line = kind + name + "\t" + message.replace("\\", "\\\\").replace("\n", "\\n") + "\n"
    _WRITE(RESULT_FD, line.encode("utf-8", "replace"))


def run_in_process(source: str, tests: str, token: bytes) -> None:
    """In-process path: the program, then the tests in its namespace; the token if they return."""
    my_pid = os.getpid()
    _level_the_stack(0)  # the tests' module, check and the candidate: 3 frames below this one, as there
    try:
        code = compile(source, "solution.py", "exec", dont_inherit=True)
    except NOT_COMPILED as exc:
        _report("S", *_describe(exc))
        _EXIT(0)
    try:
        module = types.ModuleType("solution")
        module.__dict__["__builtins__"] = builtins
        sys.modules["solution"] = module
        exec(code, module.__dict__)  # noqa: S102 - the sandboxed child
        exec(compile(tests, "tests.py", "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    except BaseException as exc:
        _report("E", *_describe(exc))
        _EXIT(1)
    if os.getpid() == my_pid:  # a forked copy of the program finishing the tests is not a pass
        _WRITE(RESULT_FD, b"P" + token + b"\n")
    _EXIT(0)


NODE_RESERVE_MB = 1024
"""Address space node gets beyond memory_mb: V8 reserves ~700 MB of virtual memory at
start (code range, heap cages) whatever the heap size, so RLIMIT_AS = memory_mb alone
aborts node before it runs anything. The JS heap itself is bounded by
--max-old-space-size=memory_mb, processes and threads by RLIMIT_NPROC (per slot uid) and the
worker's pids cgroup."""
NODE_RUNNER = r"""'use strict';
const fs = require('fs'), path = require('path'), vm = require('vm');
const writeSync = fs.writeSync, exit = (process.reallyExit || process.exit).bind(process);
const buf = Buffer.alloc(64), token = buf.toString('latin1', 0, fs.readSync(4, buf, 0, 64, null));
fs.closeSync(4);
function report(kind, err) {
  let name = 'Exception', message = '<unprintable>';
  try {
    const isErr = err !== null && (typeof err === 'object' || typeof err === 'function');
    name = isErr && err.code === 'ERR_ASSERTION' ? 'AssertionError'
      : isErr && typeof err.name === 'string' ? err.name : 'Exception';
    message = String(isErr && 'message' in err ? err.message : err).slice(0, 2000);
    message = message.split('\\').join('\\\\').split('\n').join('\\n');
  } catch (e) { /* a hostile error object must not hide the verdict */ }
  writeSync(3, kind + name + '\t' + message + '\n');
}
const file = path.resolve('solution.js');
try {  // compiled as require does (CommonJS wrapper): a syntax error, not one thrown at run time
  const params = ['exports', 'require', 'module', '__filename', '__dirname'];
  vm.compileFunction(fs.readFileSync(file, 'utf8'), params, {filename: file});
} catch (err) { report('S', err); exit(0); }
try { require(file); } catch (err) { report('E', err); exit(1); }
writeSync(3, 'P' + token + '\n');
exit(0);
"""


def exec_node(plan: dict, source: str) -> None:
    """Replace this child by node running NODE_RUNNER on the program, written to solution.js."""
    with open("solution.js", "w", encoding="utf-8") as fh:
        fh.write(source)
    r_tok, w_tok = os.pipe()
    os.write(w_tok, plan["token"])
    os.close(w_tok)
    if r_tok != TOKEN_FD:
        os.dup2(r_tok, TOKEN_FD)
        os.close(r_tok)
    os.set_inheritable(TOKEN_FD, True)  # the runner reads and closes it before the program runs
    os.set_inheritable(RESULT_FD, True)
    # --v8-pool-size=1: fewer threads against the process limits; --random-seed: Math.random
    # repeats between runs (as PYTHONHASHSEED and random.seed do for Python).
    node = plan["node"]
    os.execv(node, [node, f"--max-old-space-size={plan['memory_mb']}", "--v8-pool-size=1",
                    "--random-seed=1", "-e", NODE_RUNNER])
