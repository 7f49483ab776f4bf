"""`python -m evalkit` and the `evalkit` console script (``console``)."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading


def console() -> None:
    """Run the command (``evalkit.cli.main``), then end the process without tearing down the
    interpreter: freeing pandas', datasets' and matplotlib's objects one by one took about 0.4 s
    of every command's 2.5 to 3 s (``evalkit score`` on one sample), and nothing needs it. What
    an orderly exit does that matters still happens: other threads are joined, exit handlers run
    (logging's, which closes the run's log file, and those of Ray or datasets), streams flushed.
    An exception leaves the ordinary way, with its traceback."""
    interrupted: list[int] = []
    # Ctrl-C during the imports (half a second) is noted, not raised: raised inside a library
    # that is building its state it becomes that library's error, with a traceback.
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        from evalkit.cli import main  # after the handler above
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("evalkit: interrupted while starting; nothing was run", file=sys.stderr)
        raise SystemExit(130)
    code = main()
    # What the interpreter's own exit does first, in its order: tell thread pools to stop (joblib's
    # loky waits for that, so joining its threads alone hung a joblib sweep), join the other
    # non-daemon threads, then run the exit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the output had nowhere to go anyway
            pass
    os._exit(code)


if __name__ == "__main__":
    console()
