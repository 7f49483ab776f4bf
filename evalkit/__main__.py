"""`python -m evalkit` and the `evalkit` console script (``console``)."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import traceback

INTERNAL_ERROR = 3
"""The exit code of a command that failed on a bug of evalkit's, not on its input: Python's own
1 is what a gate's FAIL means to a CI job, and a crash is not a regression."""


def console() -> None:
    """Run the command (``evalkit.cli.main``), then end the process without tearing down the
    interpreter: freeing pandas', datasets' and matplotlib's objects one by one took about 0.4 s
    of every command's 2.5 to 3 s (``evalkit score`` on one sample), and nothing needs it. What
    an orderly exit does that matters still happens: other threads are joined, exit handlers run
    (logging's, which closes the run's log file, and those of Ray or datasets), streams flushed.
    An exception leaves the ordinary way, with its traceback."""
    interrupted: list[int] = []
    terminated = _terminate_as_interrupted()
    # Started with Ctrl-C ignored (a background job of a script), it stays ignored throughout: it
    # was noted during the imports and ignored after them.
    note = (lambda signum, frame: interrupted.append(signum)) \
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else signal.SIG_IGN
    # Ctrl-C during the imports (half a second) is noted, not raised: raised inside a library
    # that is building its state it becomes that library's error, with a traceback.
    previous = signal.signal(signal.SIGINT, note)
    try:
        from evalkit.cli import main  # after the handler above
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("evalkit: interrupted while starting; nothing was run", file=sys.stderr)
        raise SystemExit(TERMINATED if terminated else 130)
    swallowed = keep_interrupts()
    sys.stdout = ReaderGoneTolerant(sys.stdout)
    try:
        code = main()
    except Exception:  # noqa: BLE001 - a bug of ours: its traceback, with a code of its own
        from evalkit.secrets import redact  # noqa: PLC0415 - only when failing

        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        print("evalkit: internal error (the traceback above is evalkit's bug: please report it)",
              file=sys.stderr)
        code = INTERNAL_ERROR
    # From here on Ctrl-C is only noted: the command's work is done, and the exit below is short.
    signal.signal(signal.SIGINT, note)
    # What the interpreter's own exit does first, in its order: tell thread pools to stop (joblib's
    # loky waits for that, so joining its threads alone hung a joblib sweep), join the other
    # non-daemon threads, then run the exit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    # Checked after them: a joblib sweep's take about 1.3 s, and Ctrl-C then was noted and lost (exit 0)
    if (interrupted or swallowed) and code != 130:  # 130: the command said it was interrupted
        print("evalkit: interrupted; samples written so far are kept", file=sys.stderr)
        code = 130
    if terminated and code == 130:
        code = TERMINATED
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the output had nowhere to go anyway
            pass
    os._exit(code)


class ReaderGoneTolerant:
    """stdout that, once its reader has gone (``evalkit run | head -3``), sends the rest of the
    output to /dev/null instead of raising BrokenPipeError.

    The command's work does not depend on anyone reading its messages: raised, the error ended a
    finished run with a traceback and exit 1 (and a sweep after its first job), where the exit
    code must say what the command found (a gate's FAIL is 1, its PASS 0, whoever reads)."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - any text stream
        self._stream = stream

    def write(self, text: str) -> int:
        """Write to the stream, or nowhere once its reader has gone."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def flush(self) -> None:
        """Flush the stream, or drop what it holds once its reader has gone."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        # The descriptor itself now writes to /dev/null: what the stream still buffers, the
        # interpreter's own last flush and child processes that inherited it all go there.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str):  # noqa: ANN204 - fileno, isatty, encoding... of the stream
        return getattr(self._stream, name)


TERMINATED = 128 + signal.SIGTERM
"""The exit code of a command ended by SIGTERM, as a shell gives a process the signal killed."""


def _terminate_as_interrupted() -> list[int]:
    """SIGTERM (a CI job's timeout or cancel, `docker stop`, `kill`) handled as Ctrl-C is: the
    run keeps what it wrote, removes its workers' cgroups and says which folder to finish, exit 143.
    Killed by it, a run said nothing (exit 143) and left its cgroups behind. Also where Ctrl-C is
    ignored (a background job of a script, where a timeout's SIGTERM is the way a run ends): there,
    Ctrl-C is raised from then on. The list returned notes each SIGTERM."""
    terminated: list[int] = []
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return terminated

    def as_interrupt(signum: int, frame: object) -> None:
        terminated.append(signum)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        # SIGINT to the main thread: whatever handles Ctrl-C at that moment (noted while the
        # command line is composed, raised while the run works) handles this too
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    signal.signal(signal.SIGTERM, as_interrupt)
    return terminated


def keep_interrupts() -> list[int]:
    """Make Ctrl-C that lands in a weakref callback or a ``__del__`` stop the command all the same.

    Python reports an exception raised there as "Exception ignored in ..." and goes on, so a run
    interrupted at such a moment finished and exited 0 (an attacker trial hit it 4 times in 8 near
    the end of `evalkit run`). The interrupt is delivered again, to be raised where it can be;
    the list returned notes each one (the command may end before the second delivery)."""
    default = sys.unraisablehook
    swallowed: list[int] = []

    def hook(unraisable) -> None:  # noqa: ANN001 - sys.UnraisableHookArgs is not importable
        if unraisable.exc_type is KeyboardInterrupt:
            swallowed.append(signal.SIGINT)
            # Ctrl-C again, a moment later, to the main thread (sent now, it would be raised here,
            # inside the hook; should it land in such a place again, this hook sends it once more).
            main_thread = threading.main_thread().ident
            later = threading.Timer(0.05, signal.pthread_kill, args=(main_thread, signal.SIGINT))
            later.daemon = True
            later.start()
        else:
            default(unraisable)

    sys.unraisablehook = hook
    return swallowed


if __name__ == "__main__":
    console()
