"""Hydra at the edge: the one module that composes configs and hands `run` and `score` to Hydra.

`launch` runs a job through Hydra's own entry (run directories, `-m` sweeps, launchers,
callbacks, `--cfg`, `--help`) with the command line given as a list: nothing rewrites
`sys.argv`. The overrides are composed once beforehand, so a mistake exits 2 with one line
instead of Hydra's multi-line report. Other commands get their typed config from
`compose_run_config`. This module imports nothing from cli.py: cli.py calls it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import functools
import itertools
import os
import shlex
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

# hydra.main reads sys.argv; its own parser and runner take the arguments as a list. Both are
# Hydra 1.3's internals (and Hydra, whose reading of hydra.mode is handed over: _mode_composed),
# which is why pyproject.toml pins hydra-core <1.4.
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra._internal.utils import _run_hydra, create_config_search_path, get_args_parser
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from hydra.utils import to_absolute_path
from omegaconf import MISSING as MISSING_VALUE
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evalkit.config import (
    CONF_DIR,
    REQUIRED_MODEL_KEYS,
    AlreadyFinished,
    ConfigError,
    DatasetConfig,
    ExecutorConfig,
    GateConfig,
    InterruptedKept,
    InterruptedUnmeasured,
    ModelConfig,
    PromptConfig,
    ReportConfig,
    ReportedError,
    RunConfig,
    ScoringConfig,
    apply_air_gap,
    defaults_of,
    interrupted_by,
    run_config,
    unknown_key_message,
)
from evalkit.records import SamplingParams
from evalkit.samples import file_version
from evalkit.secrets import redact
from evalkit.sweep import ERROR_FILE, mark_job

Job = Callable[[RunConfig, Path], Any]
"""What `evalkit run` or `evalkit score` does in one run directory; raises ConfigError for exit 2."""

CONFIG_NAME = "config"
VERSION_BASE = "1.3"


def _register_stage_configs() -> None:
    """The groups whose keys are a dataclass's fields take their defaults from it, so each default is
    written once (conf/ holds the presets: models, datasets, launchers)."""
    store = ConfigStore.instance()
    # Under every model and dataset preset (config.yaml's defaults list puts these first): a preset
    # writes only its own values, and every key can be overridden whichever preset is chosen.
    required = dict.fromkeys(REQUIRED_MODEL_KEYS, MISSING_VALUE)
    store.store(name="model_defaults", node=defaults_of(
        ModelConfig, **required, params=dict.fromkeys(f.name for f in fields(SamplingParams))))
    store.store(name="dataset_defaults", node=defaults_of(DatasetConfig))
    for kind in ("local", "ray"):
        # where the command was typed, as the store's path: with hydra.job.chdir=true each sweep job
        # calibrated again, its cache in a reports/cache of its own job folder
        store.store(group="executor", name=kind, node=defaults_of(
            ExecutorConfig, kind=kind, cache_dir="${hydra:runtime.cwd}/reports/cache"))
    # k and seed are the run's top-level keys; run_config hands them to the scoring stage
    store.store(group="scoring", name="default", node=defaults_of(ScoringConfig, leave_out=("k", "seed")))
    store.store(group="report", name="default", node=defaults_of(ReportConfig))
    store.store(group="gate", name="default", node=defaults_of(GateConfig))
    # family and registry are filled in from the model and the package when null
    store.store(group="prompt", name="default",
                node=defaults_of(PromptConfig, family=None, registry=None, kind=None))


_register_stage_configs()

# Hydra's own flags that take a value (`--cfg job`); they are not overrides.
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--info", "--shell-completion", "-sc", "--experimental-rerun"}


def _overrides_only(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE
        else:
            out.append(arg)
    return out


def _first_of_sweeps(overrides: list[str]) -> list[str]:
    """The first combination of a sweep, for validating a `-m` command line."""
    out = []
    for item in _parse(overrides):
        if item.is_sweep_override():
            first = _sweep_values(item)[0]
            out.append(f"{item.get_key_element()}={first}")
        else:
            out.append(item.input_line)
    return out


def _parse(overrides: list[str]) -> list[Any]:
    try:
        parser = OverridesParser.create(config_loader=_group_lister())
        return parser.parse_overrides(_overrides_only(overrides))
    except OverrideParseException as exc:
        raise ConfigError(f"bad override: {_lines(exc)}") from None


@functools.cache
def _group_lister() -> ConfigLoaderImpl:
    """What Hydra's sweeper lists a group's options with, so that ``model=glob(d*)`` is enumerated
    here as the sweep will enumerate it (without one, every glob sweep ended in a traceback, exit 3)."""
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))


def _sweep_values(item: Any) -> list[str]:
    """The values a sweep override takes, as the basic sweeper enumerates them; ConfigError for one it
    cannot (``interval(0,1)``, which only an optimizing sweeper samples, ended in a traceback, exit 3)."""
    try:
        values = list(item.sweep_string_iterator())
    except HydraException as exc:
        raise ConfigError(f"{item.input_line}: {_lines(exc, 1)}: evalkit's sweeper runs every value of "
                          "choice(), range(), glob() and comma lists; interval() needs a sweeper that "
                          "samples (hydra/sweeper=optuna, a plugin evalkit does not install)") from None
    if not values:
        raise ConfigError(f"{item.input_line}: sweeps over no value (a glob() that matches no option?)")
    return values


def _lines(exc: Exception, most: int = 2) -> str:
    return " ".join([ln.strip() for ln in str(exc).splitlines() if ln.strip()][:most])


def _unknown_key(key: str) -> str:
    """`modle=mixtral`: name the closest existing key, never `+modle` (which would add an ignored key)."""
    parent, _, leaf = key.rpartition(".")
    try:
        base = _compose([])
        node = OmegaConf.select(base, parent) if parent else base
        keys = [str(k) for k in node] if isinstance(node, DictConfig) else []
    except ConfigError:
        base, keys = None, []
    close = [(parent + "." if parent else "") + name for name in difflib.get_close_matches(leaf, keys, n=1)]
    if not close and base is not None and not keys:  # `datset.limit`: the group itself misspelt
        close = difflib.get_close_matches(key, list(_dotted_keys(OmegaConf.to_container(base))), n=1)
    return unknown_key_message(key, close)


def _dotted_keys(tree: object, prefix: str = ""):
    """Every key of a plain config tree that holds a value, dotted (``dataset.limit``; not ``dataset``,
    which is no setting)."""
    for name, value in tree.items() if isinstance(tree, dict) else ():
        if isinstance(value, dict):
            yield from _dotted_keys(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _unknown_option(text: str) -> str:
    lines = text.splitlines()
    missing = lines[0].split("Could not find '", 1)[-1].rstrip("'")
    group, _, name = missing.rpartition("/")
    options = [ln.strip() for ln in lines[1:] if ln.startswith(("\t", "    ")) and "=" not in ln]
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {group or 'config'} {name!r}; {hint}available: {', '.join(options)}"


def _one_line(exc: Exception) -> str:
    """Hydra's composition error as one line that says which kind of mistake it is."""
    text = str(exc)
    if "Could not load 'hydra/launcher/submitit_" in text:  # conf/hydra/launcher/slurm.yaml extends it
        return "this Hydra launcher needs the submitit plugin: pip install hydra-submitit-launcher"
    if isinstance(exc, MissingConfigException) and "Available options" in text:
        return _unknown_option(text)
    if isinstance(exc, MissingConfigException):  # the config folder itself (a broken install)
        return f"evalkit's configuration is missing ({_lines(exc, 1)}); reinstall evalkit"
    if isinstance(exc, ConfigCompositionException) and text.startswith("Could not override '"):
        return _unknown_key(text.split("'", 2)[1])
    if isinstance(exc, (OverrideParseException, ConfigCompositionException)):
        return f"bad override: {_lines(exc)}"
    return f"config cannot be composed: {_lines(exc)}"


def _compose(overrides: list[str]) -> DictConfig:
    """The composed config (with its `hydra` node), inside Hydra's app when one runs."""
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(CONFIG_NAME, overrides=overrides, return_hydra_config=True)
        with initialize_config_dir(str(CONF_DIR), version_base=VERSION_BASE):
            return compose(CONFIG_NAME, overrides=overrides, return_hydra_config=True)
    except Exception as exc:  # Hydra's override and composition errors, of several types
        raise ConfigError(_one_line(exc)) from None


def model_preset(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml as Hydra composes it (its defaults list followed), for `arms`."""
    model = _compose([f"model={name}"]).model
    return OmegaConf.to_container(model, resolve=True)


def _typed(cfg: DictConfig) -> RunConfig:
    rc = run_config(cfg, model_preset)
    apply_air_gap(rc.dataset.allow_network)
    # The files a command reads, relative to where it was typed: with hydra.job.chdir=true the job
    # runs in its run directory, and `samples=g4.jsonl` "did not exist"
    if Path(to_absolute_path(".")) == Path.cwd():  # not moved: the paths stay as the user gave them
        return rc
    if rc.samples is not None and not rc.samples.is_absolute():
        rc = dataclasses.replace(rc, samples=Path(to_absolute_path(str(rc.samples))))
    if rc.dataset.path and not Path(rc.dataset.path).is_absolute():
        rc = dataclasses.replace(rc, dataset=dataclasses.replace(rc.dataset,
                                                                 path=to_absolute_path(rc.dataset.path)))
    return rc


def compose_run_config(overrides: list[str]) -> RunConfig:
    """The typed config for `overrides`, for commands that do not run through Hydra's app."""
    cfg = _compose(overrides)
    HydraConfig.instance().set_config(cfg)  # ${hydra:runtime.cwd} in store.path resolves
    return _typed(cfg)


def _check_sweep_composes(overrides: list[str], check: Callable[[RunConfig], None] | None,
                          cap: int = 256) -> None:
    """Every job of a sweep must compose (e.g. `model=mistral,mistrall`) into a valid config (types,
    ranges, `check`: `model.params.temperature=0.2,-1`): Hydra would otherwise stop the sweep
    halfway with a traceback, or run the jobs before it first. Errors a job finds later (an
    endpoint, a run directory) are listed in the summary."""
    choices = [[f"{item.get_key_element()}={v}" for v in _sweep_values(item)]
               if item.is_sweep_override() else [item.input_line] for item in _parse(overrides)]
    combinations = itertools.islice(itertools.product(*choices), 1, cap)  # the first is already checked
    first = HydraConfig.instance().cfg
    try:
        for num, combination in enumerate(combinations, start=1):
            try:
                rc = compose_run_config(list(combination))
                if check is not None:
                    check(rc)
            except ConfigError as exc:
                shown = " ".join(_without_key(item) for item in combination)
                raise ConfigError(f"sweep job {num} ({shown}): {exc}") from None
    finally:  # the sweep's own directories are the first composition's
        HydraConfig.instance().cfg = first


def _without_key(override: str) -> str:
    """An override as an error message may show it: `model.api_key_env=...` may hold a key given in
    place of a variable's name (the one check that refuses it does not show it either)."""
    key, sep, _ = override.partition("=")
    return f"{key}=<not shown>" if sep and key.rstrip("~+").endswith("api_key_env") else override


def launch(name: str, overrides: list[str], job: Job,
           check: Callable[[RunConfig], None] | None = None) -> None:
    """Validate the command line, then run `job` through Hydra's app (one run or a `-m` sweep).

    Raises ConfigError for a bad command line and for a single run that fails with one; a run
    that measured nothing leaves no run directory behind. A sweep job's failure is recorded in its
    directory for the sweep summary instead. `check` vets the typed config before Hydra starts.
    """
    held = _HeldInterrupts()
    try:  # Ctrl-C while the command line is composed and checked: nothing is made yet
        with held:
            sweep, before, parser, args = _checked_command_line(name, overrides, check)
            # the check composes evalkit's own configuration: another one (-cd, -cn, -cp) may set its own mode
            own = args.config_dir is None and args.config_name is None and args.config_path is None
            mode_known = _mode_composed(HydraConfig.get().mode) if own else contextlib.nullcontext()
            if sweep:  # its jobs may run in other processes, which could not raise it here
                held.release()
    except BaseException as exc:
        if interrupted_by(exc) and not isinstance(exc, InterruptedUnmeasured):
            raise InterruptedUnmeasured from exc
        raise
    failures: list[BaseException] = []
    started: list[Path] = []
    attempt = time.time()
    try:
        with contextlib.nullcontext() if sweep else held, _hydra_errors_raised(), mode_known:
            _run_hydra(args=args, args_parser=parser, task_function=_task(job, failures, started, held),
                       config_path=str(CONF_DIR), config_name=CONFIG_NAME)
    except BaseException as exc:  # Ctrl-C: what was measured stays, an attempt of nothing does not
        interrupted = interrupted_by(exc)
        if (interrupted or isinstance(exc, Exception)) \
                and before.undo_unmeasured(next(iter(started), before.run_dir)) and interrupted:
            raise InterruptedUnmeasured from exc
        if interrupted and not started and sweep and before.run_dir.is_dir():
            # a launcher that runs jobs in processes of its own (joblib) starts none in this one: the
            # sweep's folder as composed, where Hydra made it (it said only "interrupted")
            started.append(before.run_dir)
        if interrupted and started:  # where to start it again to finish it, unless it had finished
            key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
            answers_only = (not sweep and isinstance(before, RunDirBefore)
                            and before.stored_answers(started[0]) and not _samples_written(started[0]))
            raise InterruptedKept(started[0], key, not sweep and _written_since(started[0], attempt),
                                  answers_only) from exc
        if interrupted or not isinstance(exc, Exception) or isinstance(exc, ConfigError):
            raise
        # The job's own errors are kept in `failures`: this is Hydra's, setting up what the hydra.*
        # settings ask (its logging, a launcher), e.g. hydra.job_logging.handlers.file.class=Nope
        raise ConfigError(f"Hydra could not run the command: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())}") from exc
    finally:  # Hydra leaves its app initialized; the next composition in this process starts afresh
        GlobalHydra.instance().clear()
    if failures:
        before.undo_unmeasured(next(iter(started), before.run_dir))
        raise failures[0]


def _samples_written(run_dir: Path) -> bool:
    samples = run_dir / "samples.jsonl"
    return _regular(samples) and samples.stat().st_size > 0


def _written_since(run_dir: Path, since: float) -> bool:
    """Whether this attempt wrote the run's results.json (its last file: the run finished), not an
    earlier attempt that exited 2 (interrupted a few ms after it, a run said "start it again to finish
    it", and every new start was refused as finished, a nightly owner's trial)."""
    try:
        return (run_dir / "results.json").stat().st_mtime >= since
    except OSError:
        return False


class _HeldInterrupts:
    """Ctrl-C while the command line is composed and checked, and while Hydra starts a single run,
    is noted and raised when the job starts (``release``), or when the block ends.

    Raised inside Hydra's or omegaconf's composition, Ctrl-C can leave their objects half-built;
    the error that follows was caught by Hydra (its run mode, looked up with ``except Exception``),
    so the run went on and exited 0 (2 of 80 Ctrl-Cs 0.7 to 1 s into `evalkit run`). Composing
    takes a fraction of a second; the job itself is interrupted as it always was."""

    def __init__(self) -> None:
        self._noted = False
        self._previous: Any = None

    def __enter__(self) -> _HeldInterrupts:
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self._noted = True

    def release(self) -> None:
        """Ctrl-C raises again from here on; one noted meanwhile is raised now."""
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self._noted:
            self._noted = False
            raise KeyboardInterrupt

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self.release()
        elif self._previous is not None:  # failing anyway: whatever is raised says why
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


@contextlib.contextmanager
def _hydra_errors_raised() -> Iterator[None]:
    """Hydra's runner raises what fails in it, rather than printing its traceback and exiting 1.

    Ctrl-C that lands in Hydra's own steps (saving the config, setting up logging) can surface as
    another exception raised while handling it: printed by Hydra, it put a traceback above the
    command's one line "interrupted". An error of Hydra's own (a hydra.* setting it cannot apply)
    is said by ``launch`` in one line, exit 2 (Hydra exited 1, what a gate's FAIL means to a CI job)."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


HYDRA_OPTIONS = frozenset({
    "--multirun", "--cfg", "--info", "--help", "--hydra-help", "--version", "--resolve", "--package", "--run",
    "--shell-completion", "--config-path", "--config-name", "--config-dir", "--experimental-rerun",
    "-m", "-c", "-i", "-h", "-p", "-r", "-sc", "-cp", "-cn", "-cd"})
"""The options of Hydra's command line (``hydra._internal.utils.get_args_parser``)."""


def refuse_options(command: str, args: Sequence[str], allowed: frozenset[str] = HYDRA_OPTIONS,
                   spelled: Mapping[str, str] | None = None) -> None:
    """ConfigError naming the first option of ``args`` not ``allowed``, and how to write it as an
    override (``spelled``: an option's key where it is not the option's own name): Hydra reads what
    follows such an option as an override, and said "missing EQUAL" or "LexerNoViableAltException"."""
    for arg in args:
        option = arg.partition("=")[0]
        if option.startswith("-") and option not in allowed:
            key = (spelled or {}).get(option.lstrip("-"), option.lstrip("-"))
            write = f"write {key}=VALUE; " if option.startswith("--") else ""
            # score's own keys, not the composed config's (run's keys, which it refuses, among them)
            listed = ("`evalkit score --help` lists its keys" if command == "score"
                      else "`evalkit run --cfg job` lists every key")
            raise ConfigError(f"unknown option {option}: evalkit {command} takes KEY=VALUE overrides "
                              f"({write}{listed})")


def refuse_positional(command: str, args: Sequence[str]) -> None:
    """ConfigError saying what to type for an argument that is no override, option or option's value:
    to `evalkit score`, the samples file (``evalkit score samples.jsonl``, the likeliest first try);
    to `evalkit run`, an existing file. Hydra read it as an override and said "missing EQUAL at
    '<EOF>'", "extraneous input '/'" or "LexerNoViableAltException" (a new user's trial)."""
    for arg in _overrides_only(list(args)):
        if "=" in arg or arg.startswith("~") or command != "score" and not Path(arg).is_file():
            continue  # `~key` deletes a key; a word that is no file is a misspelt override: Hydra says so
        if command == "score":
            raise ConfigError("evalkit score takes the samples file as samples=PATH: "
                              f"evalkit score {shlex.quote(_override_of('samples', arg))}")
        path = Path(arg)
        if path.suffix in (".yaml", ".yml"):
            how = (f"a config file of your own is --config-dir {shlex.quote(str(path.parent))} --config-name "
                   f"{shlex.quote(path.stem)}, its defaults list naming config (evalkit's) first")
        else:
            how = ("to score the answers a samples file holds: "
                   f"evalkit score {shlex.quote(_override_of('samples', arg))}")
        raise ConfigError(f"{arg!r} is a file: evalkit {command} takes KEY=VALUE overrides; {how}")


def _override_of(key: str, value: str) -> str:
    """``key=value`` that Hydra reads back as the string ``value``: double-quoted where its grammar
    reads the plain form otherwise (``a(1).jsonl`` is a syntax error, ``true`` a bool)."""
    plain = f"{key}={value}"
    try:
        item = OverridesParser.create().parse_override(plain)
        if item.is_sweep_override() or item.value() == value:  # `-m`'s sweep over files, as given
            return plain
    except HydraException:
        pass
    escaped = value.replace('"', '\\"')
    return f'{key}="{escaped}"'


def command_help(command: str, header: str, overrides: Sequence[str], leave_out: Sequence[str]) -> str:
    """A command's --help in the layout of Hydra's (which `evalkit run` prints): ``header``, then the
    config groups and the config ``overrides`` compose to, without the keys in ``leave_out`` and their
    groups (the command refuses them: `evalkit score --help` printed run's, every key an override)."""
    refuse_positional(command, overrides)
    cfg = _compose(_overrides_only(list(overrides)))
    shown = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra" and key not in leave_out])
    lister = _group_lister()  # evalkit's groups are one level deep (hydra/launcher is Hydra's)
    groups = [f"{group}: {', '.join(sorted(lister.get_group_options(group)))}"
              for group in sorted(lister.list_groups("")) if group != "hydra" and group not in leave_out]
    return "\n".join([header, "== Configuration groups ==", "Compose your configuration from those groups "
                      "(group=option)", "", *groups, "", "== Config ==", "Override anything in the config "
                      "(foo.bar=value)", "", OmegaConf.to_yaml(shown),
                      f"Other commands: evalkit --help. Hydra's own flags (--cfg job, -m, --info): "
                      f"evalkit {command} --hydra-help.", "Documentation: README.md."])


@contextlib.contextmanager
def _mode_composed(mode: RunMode | None) -> Iterator[None]:
    """Hand Hydra's app the ``hydra.mode`` the command line composed to: the app composes the whole
    configuration once more only to read it (``Hydra.get_mode``, 0.2 s of every command, a tenth of
    `evalkit score` on one sample). None, as Hydra's own reading gives for unset, lets ``-m`` decide."""
    own = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: mode
    try:
        yield
    finally:
        Hydra.get_mode = own


def _checked_command_line(name: str, overrides: list[str], check: Callable[[RunConfig], None] | None,
                          ) -> tuple[bool, RunDirBefore | _SweepDirBefore, Any, Any]:
    """(a sweep?, the run directory as it was, Hydra's parser, its arguments) of a command line that
    composes, passes ``check`` and names a directory evalkit can write; ConfigError otherwise."""
    refuse_options(name, overrides)
    refuse_positional(name, overrides)
    rc = compose_run_config(_first_of_sweeps(overrides))
    if check is not None:
        check(rc)
    sweep = "-m" in overrides or "--multirun" in overrides
    if sweep:
        _check_sweep_composes(overrides, check)
    try:  # `hydra.run.dir=runs/${oops:1}`, `hydra.job.name=${now:}`: resolved here first
        hydra_dirs = HydraConfig.get()
        run_dir, sweep_dir, job_name = hydra_dirs.run.dir, hydra_dirs.sweep.dir, hydra_dirs.job.name
    except OmegaConfBaseException as exc:
        key, why = getattr(exc, "full_key", None) or "hydra", (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"{key}: {why or type(exc).__name__}") from None
    key, folder = ("hydra.sweep.dir", sweep_dir) if sweep else ("hydra.run.dir", run_dir)
    if not str(folder or "").strip():  # Hydra would write the whole run into the current folder
        raise ConfigError(f"{key} is empty (an unset variable in {key}=$VAR?); give the folder to "
                          "write the run in, or leave it out for one named by the time")
    # "" or ".": every job in the sweep's own folder, each refusing the next, and the sweep exited 0
    if sweep and not Path(_sweep_subdir(hydra_dirs).strip()).parts:
        raise ConfigError("hydra.sweep.subdir is empty (an unset variable?): each job needs a folder of "
                          "its own; leave it out for the job's number")
    # A single run that fails or is refused before it measured anything leaves its directory as it
    # was (gone, if the run made it): Hydra first overwrites its saved config and log, evalkit its records.
    # A sweep's directory, made by this attempt, goes when no job measured anything.
    before = _SweepDirBefore.read(Path(sweep_dir)) if sweep else RunDirBefore.read(Path(run_dir),
                                                                                    f"{job_name}.log")
    parser = get_args_parser()
    parser.prog = f"evalkit {name}"
    args = parser.parse_args(overrides)
    given = {"-m": args.multirun, "--cfg": args.cfg is not None, "--info": args.info is not None,
             "--shell-completion": args.shell_completion}
    modes = [flag for flag, on in given.items() if on]
    if len(modes) > 1:  # Hydra would raise a ValueError with a traceback
        raise ConfigError(f"{' and '.join(modes)} cannot be combined: --cfg job shows one run's config "
                          "(drop -m; each sweep job's config is saved in its directory's .hydra/)")
    _require_writable_dir(Path(sweep_dir if sweep else run_dir))
    return sweep, before, parser, args


def _sweep_subdir(hydra_dirs: Any) -> str:
    """hydra.sweep.subdir as given; its default names the job's number, which only a job knows."""
    try:
        return str(hydra_dirs.sweep.subdir or "")
    except OmegaConfBaseException:  # ${hydra.job.num}: not set before the sweep starts its jobs
        return "${hydra.job.num}"


def _require_writable_dir(path: Path) -> None:
    """Raise the OSError naming the run (or sweep) directory if it cannot be made or written
    (the command's one line, exit 2): Hydra, which makes it and logs into it first, would fail
    with its traceback. Nothing is made here: the default directory's name holds the time, which
    Hydra reads again."""
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(existing).f_flag & os.ST_RDONLY else errno.EACCES
        raise PermissionError(code, os.strerror(code), str(existing))


@dataclass(frozen=True)
class _SweepDirBefore:
    """A sweep's directory as it was before an attempt: removed again when the attempt made it and
    none of its jobs measured or recorded anything (Ctrl-C in its first seconds left multirun.yaml,
    the first job's .hydra/, run.json and an empty samples.jsonl, and said samples were kept)."""

    run_dir: Path
    """The sweep's directory, absolute."""
    existed: bool

    @classmethod
    def read(cls, sweep_dir: Path) -> _SweepDirBefore:
        sweep_dir = Path(os.path.abspath(sweep_dir))
        return cls(sweep_dir, os.path.lexists(sweep_dir))

    def undo_unmeasured(self, sweep_dir: Path) -> bool:
        """Remove the sweep's directory (``sweep_dir``, as Hydra named it) if this attempt made it and
        nothing in it was measured or recorded (a sample, results, a job's error); whether nothing was."""
        sweep_dir = Path(os.path.abspath(sweep_dir))
        if sweep_dir != self.run_dir:  # Hydra named it another second: a folder this attempt made (the
            # folder composed before, never made, said "nothing was measured" of 1,080 samples kept)
            return _SweepDirBefore(sweep_dir, False).undo_unmeasured(sweep_dir)
        if self.existed:
            return False
        if not self.run_dir.is_dir() or self.run_dir.is_symlink():
            return not os.path.lexists(self.run_dir)
        if any(path.is_file() and path.stat().st_size for path in self.run_dir.rglob("samples.jsonl")) \
                or any(self.run_dir.rglob("results.json")) or any(self.run_dir.rglob(ERROR_FILE)):
            return False
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return True


@dataclass(frozen=True)
class RunDirBefore:
    """A run directory as it was before an attempt, to put back when the attempt measured nothing."""

    run_dir: Path
    """As composed before Hydra's app (the job's own, unless its name holds the time and Hydra
    composed another second: ``undo_unmeasured`` is given the job's)."""
    existed: bool
    saved: dict[Path, bytes] | None
    """Its saved config (.hydra/*.yaml) by path; None where it had no .hydra/."""
    log_size: int | None
    """The job log's size; None where it had none (Hydra appends the attempt's lines)."""
    log_name: str
    records: dict[str, bytes | None]
    """evalkit's own records (dataset.json, run.json) by name: their bytes, None where absent (one
    that is not a regular file, a FIFO or a link the user put there, is not among them)."""
    samples_size: int | None
    results: tuple[int, ...]
    """results.json's version (``samples.file_version``; () where absent)."""
    existing_ancestor: Path | None = None
    """The nearest folder above it that existed (Hydra makes the ones between, ``reports/runs/``
    in a fresh folder: removed with the run's own when the attempt measured nothing)."""

    @classmethod
    def read(cls, run_dir: Path, log_name: str) -> RunDirBefore:
        """``run_dir`` as it is now (``log_name``: the job's log, which Hydra appends to)."""
        from evalkit.rundir import DATASET_FILE, RUN_FILE  # noqa: PLC0415 - it imports the executor

        # absolute, as Hydra names the job's: a relative hydra.run.dir (runs/r3) was taken for another
        # directory, and a refused resume left the refused config in its .hydra/
        run_dir = Path(os.path.abspath(run_dir))
        hydra_dir, log = run_dir / ".hydra", run_dir / log_name
        saved = {path: path.read_bytes() for path in hydra_dir.glob("*.yaml")} if hydra_dir.is_dir() else None
        records = {name: None if not os.path.lexists(run_dir / name) else (run_dir / name).read_bytes()
                   for name in (DATASET_FILE, RUN_FILE)
                   if not os.path.lexists(run_dir / name) or _regular(run_dir / name)}
        samples = run_dir / "samples.jsonl"
        existing = next((folder for folder in run_dir.parents if folder.is_dir()), None)
        return cls(run_dir, run_dir.is_dir(), saved, log.stat().st_size if log.is_file() else None,
                   log_name, records, samples.stat().st_size if _regular(samples) else None,
                   file_version(run_dir / "results.json"), existing)

    @classmethod
    def made_by_attempt(cls, job_dir: Path, log_name: str) -> RunDirBefore:
        """A sweep job's folder this attempt made and refused: its saved config, log and failure
        (error.txt) stay, the sweep's record of the job; evalkit's records and an empty samples
        file go, as a refused single run leaves none (they read as a started run's)."""
        now = cls.read(job_dir, log_name)
        return dataclasses.replace(now, records=dict.fromkeys(now.records), samples_size=None, results=())

    def undo_unmeasured(self, run_dir: Path) -> bool:
        """If the attempt in ``run_dir`` wrote no sample and no results, put the directory back as it
        was (remove it if the attempt made it and it is empty again); whether it did. Beside another
        run still writing there, only the saved config it overwrote is put back."""
        from evalkit.samples import being_written  # noqa: PLC0415 - it imports the config machinery

        run_dir = Path(os.path.abspath(run_dir))
        if run_dir != self.run_dir:  # Hydra named it another second: a directory the attempt made
            made = RunDirBefore(run_dir, False, None, None, self.log_name, dict.fromkeys(self.records),
                                 None, (), self.existing_ancestor)
            return made.undo_unmeasured(run_dir)
        samples = run_dir / "samples.jsonl"
        size = samples.stat().st_size if _regular(samples) else None
        if (size or 0) > (self.samples_size or 0) or file_version(run_dir / "results.json") != self.results:
            return False
        if self.stored_answers(run_dir):  # answers received: run.json names them in the response store
            return False
        beside_another = being_written(samples)
        self._put_back_config(beside_another)
        if beside_another:
            return False
        for name, data in self.records.items():
            path = run_dir / name
            with contextlib.suppress(OSError):  # replaced, as evalkit writes them: no link is followed
                if data is None:
                    path.unlink(missing_ok=True)
                elif not _regular(path) or path.read_bytes() != data:
                    path.with_name(f".{name}.new").write_bytes(data)
                    os.replace(path.with_name(f".{name}.new"), path)
        if self.samples_size is None and size == 0:
            samples.unlink(missing_ok=True)
        if not self.existed:
            with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                run_dir.rmdir()
                for folder in run_dir.parents:  # those Hydra made above it, while empty
                    if self.existing_ancestor is None or folder == self.existing_ancestor or \
                            self.existing_ancestor not in folder.parents:
                        break
                    folder.rmdir()
        return True

    def stored_answers(self, run_dir: Path) -> bool:
        """Whether the attempt stored answers its run had not (``rundir.note_answers_stored``)."""
        from evalkit.rundir import RUN_FILE, answers_stored  # noqa: PLC0415 - it imports the executor

        path = Path(os.path.abspath(run_dir)) / RUN_FILE
        now = path.read_bytes() if _regular(path) else None
        return answers_stored(now) and not answers_stored(self.records.get(RUN_FILE))

    def _put_back_config(self, beside_another: bool) -> None:
        """Put back the saved config and the log as they were. Beside another run still writing in the
        folder, only a saved config this attempt overwrote: that run's log goes on in the same file,
        and where there was no config before, the other run started at the same instant and wrote
        its own (two runs started in one second, in a folder named by the second: the refused one
        removed the other's .hydra/ and evalkit.log while it ran)."""
        hydra_dir, log = self.run_dir / ".hydra", self.run_dir / self.log_name
        if self.saved is not None:
            for path, text in self.saved.items():
                path.write_bytes(text)
        elif not beside_another:
            shutil.rmtree(hydra_dir, ignore_errors=True)
        if beside_another:
            return
        with contextlib.suppress(OSError):
            if self.log_size is None:
                log.unlink(missing_ok=True)
            else:
                os.truncate(log, self.log_size)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _task(job: Job, failures: list[BaseException], started: list[Path],
          held: _HeldInterrupts) -> Callable[[DictConfig], Any]:
    """Hydra's task function around `job`; a single run's failure is kept in `failures`, and each
    job's run directory (a sweep job's: the sweep's) in `started` as it starts. Ctrl-C `held` while
    Hydra started is raised first."""

    def task(cfg: DictConfig) -> Any:
        held.release()
        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        sweep_job = hydra_cfg.mode == RunMode.MULTIRUN
        # from where the command started: with hydra.job.chdir the job runs in its own folder
        sweep_dir = Path(hydra_cfg.runtime.cwd, hydra_cfg.sweep.dir) if sweep_job else None
        started.append(sweep_dir or run_dir)
        if sweep_dir is not None:
            mark_job(run_dir, sweep_dir, "started")
        try:
            done = job(_typed(cfg), run_dir)
        except Exception as exc:  # a sweep goes on; a single run re-raises it outside Hydra's runner
            if sweep_dir is not None:
                return _sweep_job_ended(exc, run_dir, sweep_dir)
            failures.append(exc)  # launch puts the directory back if the run measured nothing
            return None
        if sweep_dir is not None:
            mark_job(run_dir, sweep_dir, "finished")
        return done

    return task


def _sweep_job_ended(exc: Exception, run_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    """Record how a sweep job that raised ``exc`` ended, for the sweep's summary; what Hydra keeps as
    its return value."""
    if isinstance(exc, AlreadyFinished):  # a sweep started again after the job finished: it stands
        print(f"evalkit: job {run_dir.name} had finished: its results are kept as they were", file=sys.stderr)
        mark_job(run_dir, sweep_dir, "kept")
        return {"kept": str(run_dir)}
    if isinstance(exc, ReportedError):
        # finished: the summary compares it with the others and lists why (results.json's problems);
        # marked failed, it was left out of the comparison as a job that measured nothing
        print(f"evalkit: job {run_dir.name} exits 2: {redact(str(exc))}", file=sys.stderr)
        mark_job(run_dir, sweep_dir, "finished")
        return {"exited_2": redact(str(exc))}
    details = "" if isinstance(exc, ConfigError) else traceback.format_exc()
    reason = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
    failed = _job_failed(run_dir, redact(reason), redact(details))
    mark_job(run_dir, sweep_dir, "failed")
    return failed


def _job_failed(run_dir: Path, reason: str, details: str = "") -> dict[str, Any]:
    """Record a sweep job's failure in its run directory for the sweep summary."""
    # the run directory's refusals say what a single run does; a sweep job's directory is the sweep's
    reason = " ".join(reason.split()) or "unknown error"
    reason = reason.replace("a new hydra.run.dir", "a new hydra.sweep.dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR_FILE).write_text(reason + "\n" + (f"\n{details}" if details else ""))
    print(f"evalkit: job {run_dir.name} failed: {reason}", file=sys.stderr)
    if details:
        print(details, file=sys.stderr)
    # returning (not raising) lets the other jobs and the sweep summary go on
    return {"error": reason}
