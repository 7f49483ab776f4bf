"""Linux isolation primitives for the execution worker, through ctypes (and pyseccomp).

Python 3.11 has no ``os.unshare``, ``mount`` or ``pivot_root``; these few libc calls are
all the worker needs. This module is imported by the worker scripts (zygote.py,
spawner.py, runner.py) as a top-level module, so it imports nothing from evalkit.

The layers, as root (README, Execution sandbox): network, mount, PID and IPC namespaces for
the worker; a minimal root for the spawner, benchmark data and evalkit hidden in it
(``minimal_root``); per program its own mount
and IPC namespaces with fresh tmpfs scratch (``private_scratch``), an unprivileged uid
(``become``), a pids cgroup, rlimits; a seccomp filter the fork server installs on itself
once (``install_seccomp``), which every program's process inherits. Otherwise: rlimits, the
seccomp filter where libseccomp is available, own session, killed by group.
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import os
import platform
import socket
from typing import Callable

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

SCRATCH_INODES = 65536

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38

_FLAG_BY_OPTION = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                   "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}

_libc = None


def libc() -> ctypes.CDLL:
    """The C library, loaded once with errno support."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """unshare(2)."""
    _check(libc().unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2)."""
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def prctl(option: int, arg: int) -> int:
    """prctl(2) with one argument; returns the raw result."""
    return libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


PR_SET_NAME = 15


def set_name(name: bytes) -> None:
    """Name this process (its ``comm``, at most 15 bytes) as ps, top and perf show it."""
    libc().prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _mounts() -> list[tuple[str, int]]:
    """(mount point, flags to keep) of every mount, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _FLAG_BY_OPTION.get(opt, 0)
            out.append((point, flags))
    return out


def lock_filesystem(size_mb: int) -> str:
    """Make every inherited mount read-only in a private mount namespace, and put a small
    private tmpfs on /dev/shm (or /tmp where there is none) for the spawner to build its root
    in and the test processes' temporary files; returns that path. /tmp itself stays as it
    is, read-only: a virtual environment there stays importable (programs get a fresh /tmp of
    their own, see ``private_scratch``)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for point, flags in _mounts():
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            # A mount hidden under another one, or one the kernel refuses: what we can
            # reach through the path is already handled by the entry on top.
            pass
    workspace = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
    mount("tmpfs", workspace, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=700")
    return workspace


def mount_private_proc() -> None:
    """A read-only /proc that shows only this PID namespace (hides the harness)."""
    mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def drop_bounding_set() -> None:
    """Drop every capability from the bounding set so no exec can regain one,
    set no_new_privs, and make this process non-dumpable (not ptrace-able)."""
    cap = 0
    while prctl(PR_CAPBSET_DROP, cap) == 0:
        cap += 1
    _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    prctl(PR_SET_DUMPABLE, 0)


_fork = None


def fork_without_hooks() -> int:
    """fork(2) itself, as os.fork is without the at-fork hooks: 0 in the child, its PID in the parent.

    os.fork runs every imported module's at-fork hooks in the child: random reseeds
    from os.urandom (so a program's unseeded random numbers would change between
    runs) and, where imported, threading rebuilds its state. That cost 0.15 to 0.4 ms
    per program on a virtual machine, where each page the hooks touch is a copy-on-write fault.
    The hooks repair what other threads or held locks leave behind; the caller
    (the worker) has no other thread and holds no lock when it forks. PyDLL keeps
    the GIL held across the call, so the child starts holding it, as after os.fork.
    """
    global _fork
    if _fork is None:
        _fork = ctypes.PyDLL(None, use_errno=True).fork
        _fork.restype = ctypes.c_int
    pid = _fork()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    return pid


def join_cgroup(path: str) -> None:
    """Move this process into the cgroup at path (writing 0 means 'me')."""
    with open(os.path.join(path, "cgroup.procs"), "w") as fh:
        fh.write("0")


def set_oom_score_adj(value: int) -> None:
    """How readily the kernel ends this process (and, inherited, its children) when memory runs
    out: -1000 never, 0 by its size alone."""
    fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)  # plain calls: every program's process makes it
    try:
        os.write(fd, b"%d" % value)
    finally:
        os.close(fd)


def make_subreaper() -> None:
    """Orphans of this process's descendants become its children (so it reaps and kills them)."""
    _check(prctl(PR_SET_CHILD_SUBREAPER, 1), "child subreaper")


def move_high(fd: int, floor: int = 100) -> int:
    """A copy of fd numbered floor or above (the original is closed): a child can then dup2 its
    descriptors into place without overwriting one it still needs."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, floor)
    os.close(fd)
    return high


def arrange_fds(targets: dict[int, int]) -> None:
    """Make each target descriptor a copy of its source, then close every other one.

    Sources are first copied above every target, so no dup2 overwrites a source still needed.
    """
    high = max(targets) + 1
    moved = {target: fcntl.fcntl(source, fcntl.F_DUPFD, high + 64) for target, source in targets.items()}
    for target, source in moved.items():
        os.dup2(source, target)
    previous = -1
    for fd in sorted(targets):
        if fd > previous + 1:  # never an empty range: closerange(0, 0) closes every descriptor
            os.closerange(previous + 1, fd)
        previous = fd
    os.closerange(previous + 1, 1 << 16)


def receive(sock: socket.socket, buffer: bytearray, max_fds: int = 0) -> tuple[bytes, list[int]]:
    """One message read into a reused buffer, and the descriptors passed with it (SCM_RIGHTS).

    ``sock.recv(1 << 20)`` allocates a fresh megabyte for every message: an mmap, its page
    faults and an mremap each time (0.1 ms a program across the worker and test process)."""
    size, ancillary, _, _ = sock.recvmsg_into([buffer], socket.CMSG_SPACE(4 * max_fds) if max_fds else 0)
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", data[: len(data) - len(data) % 4]))
    return bytes(memoryview(buffer)[:size]), fds


# --- the spawner's minimal root and the program's scratch ---------------------------------

RO_BIND = MS_BIND | MS_REC
_DEVICES = ("null", "zero", "urandom", "random", "full")
KEEP_DIR = "/.evalkit-keep"
"""Where paths the program needs under /tmp (a virtual environment) wait, outside its scratch."""


def _bind_read_only(source: str, target: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    mount(source, target, None, RO_BIND)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def minimal_root(keep: list[str], base: str, hide: list[str] = ()) -> list[str]:
    """Pivot into a new root that holds only ``keep`` (read-only) less ``hide`` (each left
    empty: see ``_hide``), /dev's harmless devices, an empty /tmp and a /proc that shows each
    uid only its own processes.

    Returns the kept paths that lie under /tmp: bound at KEEP_DIR/<n>, since each program
    mounts its own scratch on /tmp (``private_scratch`` binds them back).
    """
    root = os.path.join(base, f"evalkit-root-{os.getpid()}")
    os.mkdir(root, 0o755)
    mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=1m,mode=755")
    under_tmp = []
    placed = {}  # kept path -> where it is in the new root
    for path in keep:
        if path == "/tmp" or path.startswith("/tmp/"):
            under_tmp.append(path)
            placed[path] = f"{root}{KEEP_DIR}/{len(under_tmp) - 1}"
            _bind_read_only(path, placed[path])
        elif os.path.islink(path):
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            placed[path] = root + path
            _bind_read_only(path, placed[path])
    _hide(hide, placed, os.path.join(base, f"evalkit-empty-{os.getpid()}"))
    os.makedirs(root + "/dev", exist_ok=True)
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            with open(f"{root}/dev/{name}", "a"):
                pass
            mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    for name in ("dev/shm", "tmp", "proc"):
        os.makedirs(f"{root}/{name}", exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    old = root + "/.old-root"
    os.mkdir(old)
    _check(libc().syscall(_SYS_PIVOT_ROOT[platform.machine()], root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(libc().umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    mount(None, "/dev", None, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_RDONLY, "size=64k,mode=755")
    mount(None, "/", None, MS_REMOUNT | MS_NOSUID | MS_RDONLY, "size=1m,mode=755")
    return under_tmp


def _hide(hide: list[str], placed: dict[str, str], empty_file: str) -> None:
    """Cover each hidden path inside a kept one: a folder with an empty read-only tmpfs, a file
    with an empty read-only file. Mounted on the new root's copy (a path under /tmp on its
    KEEP_DIR copy, whose per-program bind carries the cover along)."""
    with open(empty_file, "w"):
        pass
    for path in hide:
        kept = next((k for k in placed if path == k or path.startswith(k.rstrip("/") + "/")), None)
        if kept is None:
            continue
        target = placed[kept] + path[len(kept):]
        if os.path.realpath(target) != os.path.realpath(placed[kept]) + path[len(kept):]:
            continue  # through a symbolic link: its real path is in ``hide`` too
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
        elif os.path.exists(target):
            mount(empty_file, target, None, MS_BIND)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


_scratch_calls: list[tuple] = []


def prepare_private_scratch(size_mb: int, under_tmp: list[str]) -> None:
    """Build, once in the spawner, the calls ``private_scratch`` makes in each child: typed
    ctypes functions and encoded arguments, so the child converts nothing (each page it
    writes is a copy-on-write fault)."""
    lib = ctypes.CDLL(None, use_errno=True)
    do_unshare, do_mount = lib.unshare, lib.mount
    do_unshare.argtypes, do_unshare.restype = (ctypes.c_int,), ctypes.c_int
    do_mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
    do_mount.restype = ctypes.c_int
    opts = f"size={size_mb}m,nr_inodes={SCRATCH_INODES},mode=1777".encode()
    calls = [(do_unshare, (CLONE_NEWNS | CLONE_NEWIPC,), "unshare"),
             (do_mount, (b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, opts), "mount /tmp"),
             (do_mount, (b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts),
              "mount /dev/shm"),
             # /proc read-only in the program's namespace: its oom_score_adj stays the 1000 its process
             # set as root (runner.prepare). Where the host denies CAP_SYS_RESOURCE (which would pin
             # it) a program wrote 0 back, and when memory ran out above its slot (the host's, a
             # container's) the kernel ended its neighbours, still at 1000, in its stead: 31 of 32
             # correct programs `error` in an attacker's trial.
             (do_mount, (None, b"/proc", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
                         | MS_NOEXEC, None), "remount /proc read-only")]
    for n, path in enumerate(under_tmp):
        calls.append((os.makedirs, (path,), None))
        target = path.encode()
        calls.append((do_mount, (f"{KEEP_DIR}/{n}".encode(), target, None, RO_BIND, None), f"bind {path}"))
        calls.append((do_mount, (None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None),
                      f"remount {path}"))
    _scratch_calls[:] = calls


def private_scratch() -> None:
    """In a new mount and IPC namespace, fresh tmpfs mounts on /tmp and /dev/shm: nothing of an
    earlier program (files, xattrs, SysV IPC) is there, and the kernel frees them all when the
    program's last process ends, however deep or hostile the tree it left. Paths the program
    needs under /tmp (a virtual environment) are bound back, read-only; /proc is read-only."""
    for call, args, what in _scratch_calls:
        result = call(*args)
        if what is not None:
            _check(result, what)


def become(uid: int) -> None:
    """Drop to an unprivileged uid and gid (no supplementary groups): every capability goes too."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


# --- seccomp ---------------------------------------------------------------------------

DENIED_SYSCALLS = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "add_key", "request_key",
    "keyctl", "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "fsopen", "fspick", "fsmount", "fsconfig", "move_mount", "open_tree",
    "mount_setattr", "swapon", "swapoff", "reboot", "acct", "syslog", "quotactl", "vhangup",
    "memfd_create", "shmget", "msgget", "semget", "ipc", "inotify_init", "inotify_init1", "fanotify_init",
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
)
"""Refused with EPERM: namespaces (a user namespace would give the program capabilities
again), keyrings (they outlive the program on the host), tracing other processes, mounts,
kernel interfaces no test needs, and memory that shows in no process's size (``memfd_create``
and System V shared memory, message queues and semaphores, ``ipc`` where an architecture
multiplexes them): when the worker's memory runs out, the kernel would end the largest process,
a correct neighbour, not the program holding it (an attacker's trial had 29 of 228 correct
programs scored ``error`` that way). A program's /tmp and /dev/shm, where POSIX shared memory
lives, are size-limited tmpfs mounts. And file watches (inotify, fanotify): programs in flight
together see the same read-only files, and one opening a file the other watched was a signal (an
attacker's receivers failed beside their senders, passed alone); no test needs to watch a file.
And Linux AIO (``io_setup`` ...), as io_uring: its contexts are counted for the whole host
(``fs.aio-max-nr``), and one program took them all, so that AIO failed everywhere on the machine while
it ran (and the count was a channel between programs)."""
AF_UNIX = 1
SOCK_STREAM = 1
"""socket(2) creates nothing in a program; socketpair(2) only AF_UNIX SOCK_STREAM, which asyncio's
event loop needs; and bind(2), listen(2), connect(2) and accept(2) on it: one end of a connected
stream pair bound to an abstract name showed that name, bytes of the program's choosing, in
/proc/net/unix to the programs beside it (an attacker's trial), and the EADDRINUSE of a neighbour
binding it too was a signal.
Programs in flight on one worker share its network namespace (loopback down), so any socket
socket(2) makes is one they can find one another by: an abstract AF_UNIX name (``\\0name``), a
NETLINK_USERSOCK port, a family such as AF_TIPC or AF_VSOCK would carry messages; a UDP port or
a netlink port id bound at a number of the program's choosing carries its bits to the others
through /proc/net/udp or /proc/net/netlink, or the EADDRINUSE they get binding it. With no
network to reach, an AF_INET socket had no other use. A datagram socketpair can be disconnected
and bound to an abstract name."""
_NAMESPACE_FLAGS = (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                    CLONE_NEWPID, CLONE_NEWNET)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


SETUP_UNSHARE = CLONE_NEWNS | CLONE_NEWIPC
"""The one unshare(2) the filter for a fork server that gives each program private scratch
lets through: the set-up's own (``private_scratch``)."""


def build_seccomp_filter(private_scratch: bool = False) -> tuple[bytes | None, str | None]:
    """(the filter's BPF, None), or (None, why it is unavailable). Built by libseccomp through
    pyseccomp in the harness, once: the workers only install the bytes (``install_seccomp``),
    so they never import pyseccomp, whose library lookup starts a subprocess.

    The fork server installs the filter on itself, so a program's process has it from its
    fork: installing it per program cost about 0.45 ms of CPU a program (attaching a filter
    compiles it and, at exit, frees it), a tenth of each program's cost. With
    ``private_scratch``, the set-up each child does as root before it drops to its uid must
    pass: ``unshare`` of exactly SETUP_UNSHARE, and ``mount``. Both need CAP_SYS_ADMIN, which
    the program never has: it runs as an unprivileged uid with no_new_privs, and every way
    to a user namespace of its own (unshare or clone with CLONE_NEWUSER, clone3) is refused.
    """
    try:
        import pyseccomp as seccomp  # noqa: PLC0415 - optional: the tier says when it is missing
    except (ImportError, OSError, RuntimeError, TypeError) as exc:  # no libseccomp.so
        return None, f"seccomp unavailable: pyseccomp/libseccomp ({type(exc).__name__}: {str(exc)[:80]})"
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    if private_scratch:
        rules.add_rule(denied, "unshare", seccomp.Arg(0, seccomp.NE, SETUP_UNSHARE))
    for name in DENIED_SYSCALLS:
        if private_scratch and name in ("unshare", "mount"):
            continue
        try:
            rules.add_rule(denied, name)
        except (OSError, ValueError, RuntimeError):
            pass  # a syscall this architecture lacks
    for flag in _NAMESPACE_FLAGS:
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # flags behind a pointer: libc falls back to clone
    _add_socket_rules(seccomp, rules, denied)
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb", closefd=True) as sink:
            rules.export_bpf(sink)
        bpf = b""
        while chunk := os.read(read_fd, 1 << 16):
            bpf += chunk
    finally:
        os.close(read_fd)
    return bpf, None


def _add_socket_rules(seccomp, rules, denied) -> None:
    """socket(2), bind(2), listen(2), connect(2) and accept(2) refused, socketpair(2) only for AF_UNIX
    SOCK_STREAM (flags such as SOCK_CLOEXEC aside); see SOCK_STREAM."""
    rules.add_rule(denied, "socket")
    for name in ("bind", "listen", "connect", "accept", "accept4"):  # nothing a connected pair needs
        rules.add_rule(denied, name)
    rules.add_rule(denied, "socketpair", seccomp.Arg(0, seccomp.NE, AF_UNIX))
    for kind in range(16):  # the type's low bits; SOCK_NONBLOCK and SOCK_CLOEXEC lie above them
        if kind != SOCK_STREAM:
            rules.add_rule(denied, "socketpair", seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, kind))


def install_seccomp(bpf: bytes) -> None:
    """Install the filter on this process: it and every process it forks keep it for life.
    no_new_privs first: the kernel asks for it (or CAP_SYS_ADMIN) before it takes a filter."""
    _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    buffer = ctypes.create_string_buffer(bpf, len(bpf))
    program = _SockFprog(len(bpf) // 8, ctypes.addressof(buffer))
    prctl_call = ctypes.CDLL(None, use_errno=True).prctl  # its own function object: typed apart from prctl()
    prctl_call.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)
    prctl_call.restype = ctypes.c_int
    _check(prctl_call(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(program), 0, 0), "seccomp")


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` in this PID namespace (as root).

    kill(-1) as that uid (real and effective) reaches exactly its processes; the saved uid
    stays 0, so root comes back right after. Twice: a fork that raced the first round has a
    child the second reaches (a process with SIGKILL pending cannot fork again). For that
    moment the caller runs as ``uid``, so the processes it kills may signal it: only a PID
    namespace's init may do this (nothing inside its namespace can kill or stop it); any other
    process calls ``kill_uid_apart``.
    """
    os.setresuid(uid, uid, 0)
    try:
        _kill_all_i_may()
    finally:
        os.setresuid(0, 0, 0)


def kill_uid_apart(uid: int, then: Callable[[], None] | None = None) -> None:
    """``kill_uid`` from a forked child that becomes ``uid`` for good, then runs ``then`` as
    that uid (removing what its processes wrote can reach no further than they could); returns
    when the child has ended."""
    pid = fork_without_hooks()
    if pid == 0:
        try:
            become(uid)
            _kill_all_i_may()
            if then is not None:
                then()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _kill_all_i_may() -> None:
    for _ in range(2):
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            break
