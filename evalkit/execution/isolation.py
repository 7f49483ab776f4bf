"""Linux isolation primitives for the execution worker, through ctypes.

Python 3.11 has no ``os.unshare`` or ``mount``; these few libc calls are all the
worker needs. This module is imported by the worker script (zygote.py) as a
top-level module, so it imports nothing from evalkit.

Tiers, strongest first (the worker reports which one held):
- as root: network, mount and PID namespaces; every inherited mount re-mounted
  read-only, a private tmpfs on /tmp and /dev/shm, a fresh read-only /proc;
  a pids cgroup per worker; no capabilities in the program (uid 0 without
  capabilities cannot write a read-only mount, signal outside its PID
  namespace, leave its cgroup or raise its hard limits); rlimits.
- otherwise: rlimits, own session, killed by process group.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
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

PR_SET_DUMPABLE = 4
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


def lock_filesystem(scratch_size_mb: int) -> list[str]:
    """Make every inherited mount read-only in a private mount namespace and
    put fresh tmpfs mounts on /tmp and /dev/shm (the only writable places); returns those."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for point, flags in _mounts():
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            # A mount hidden under another one, or one the kernel refuses: what we can
            # reach through the path is already handled by the entry on top.
            pass
    # nr_inodes: a bound on files as size is on bytes, and a count the worker reads to see a mount is empty.
    opts = f"size={scratch_size_mb}m,nr_inodes={SCRATCH_INODES},mode=1777"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    if not os.path.isdir("/dev/shm"):
        return ["/tmp"]
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
    return ["/tmp", "/dev/shm"]


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


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_capset_call = None


def prepare_to_drop_capabilities() -> None:
    """Build once, in the worker, what drop_all_capabilities passes to capset(2). Done in each
    forked child, ctypes' first-call work would fault in some hundred pages per program."""
    global _capset_call
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # both sets empty
    capset = libc().capset
    capset.argtypes, capset.restype = (ctypes.c_void_p, ctypes.c_void_p), ctypes.c_int
    # header and data ride along only to keep the memory their addresses point at alive.
    _capset_call = (capset, ctypes.addressof(header), ctypes.addressof(data), header, data)


def drop_all_capabilities() -> None:
    """capset(2) to empty sets: uid 0 without any capability."""
    if _capset_call is None:
        prepare_to_drop_capabilities()
    capset, header, data = _capset_call[:3]
    _check(capset(header, data), "capset")


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


def join_pids_cgroup(path: str) -> None:
    """Move this process into the pids cgroup at path (writing 0 means 'me')."""
    with open(os.path.join(path, "cgroup.procs"), "w") as fh:
        fh.write("0")
