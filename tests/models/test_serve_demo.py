"""`evalkit serve-demo`: the demo endpoint as a standalone process, driven by the real openai client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import openai
import pytest

from tests.support.cli import REPO, run_evalkit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_demo_answers_the_openai_client_until_stopped(humaneval_tasks):
    port = _free_port()
    command = [sys.executable, "-X", "faulthandler", "-m", "evalkit", "serve-demo", "--port", str(port)]
    # Ctrl-C's default action in the server, even where this test runs with SIGINT ignored (a shell
    # ignores it in the jobs it starts in the background, and children inherit that).
    proc = subprocess.Popen(command, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, HF_DATASETS_OFFLINE="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line, line + proc.stderr.read() if proc.poll() else line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY", max_retries=0)
        assert {m.id for m in client.models.list()} == {"demo-oracle", "demo-buggy", "demo-mimic"}
        task = humaneval_tasks[0]
        answer = client.chat.completions.create(
            model="demo-oracle", messages=[{"role": "user", "content": task.prompt}], max_tokens=1024)
        assert task.reference.strip() in answer.choices[0].message.content
        # every shipped dataset, not only HumanEval: an instruction, and a hole to fill (completions
        # API, suffix field); it answered "I found no task I know" to both
        from evalkit.benchmarks import load_tasks  # noqa: PLC0415 - only this test needs them
        from evalkit.config import DatasetConfig  # noqa: PLC0415

        instruct = load_tasks(DatasetConfig(name="instruct_python"))[0]
        answer = client.chat.completions.create(
            model="demo-oracle", messages=[{"role": "user", "content": instruct.prompt}], max_tokens=1024)
        assert instruct.reference.strip().splitlines()[-1].strip() in answer.choices[0].message.content
        hole = load_tasks(DatasetConfig(name="infilling_single_line"))[0]
        filled = client.completions.create(model="demo-oracle", prompt=hole.prompt, suffix=hole.suffix,
                                           max_tokens=256)
        assert filled.choices[0].text.strip() == hole.reference.strip()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with open(f"/proc/{proc.pid}/status") as fh:
                signals = [line.strip() for line in fh if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            proc.send_signal(signal.SIGABRT)  # -X faulthandler: every thread's stack on stderr
            stacks = proc.communicate()[1][-3000:]
            pytest.fail(f"serve-demo still running 20 s after SIGINT ({signals}); its threads:\n{stacks}")
    assert proc.returncode == 0


@pytest.mark.parametrize(("args", "says"), [
    (["--port", "99999"], "--port must be from 0 to 65535"),
    (["--port", "-1"], "--port must be from 0 to 65535"),
    (["--host", "nosuchhost.invalid"], "cannot serve the demo endpoint on nosuchhost.invalid:"),
    (["in-use"], "Address already in use"),
])
@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_port_or_host_it_cannot_serve_on_is_one_line_exit_2(args, says):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if args == ["in-use"]:
            args = ["--port", str(taken.getsockname()[1])]
        proc = run_evalkit("serve-demo", *args, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("evalkit: error: ") and says in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "demo endpoint: http" not in proc.stdout
