"""Composing configs the way Hydra does: presets with their defaults lists, stage defaults, errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from evalkit import hydra_app, prompts
from evalkit.config import (
    CONF_DIR,
    PROMPTS_DIR,
    ConfigError,
    ExecutorConfig,
    GateConfig,
    InterruptedKept,
    InterruptedUnmeasured,
)
from tests.support.cli import run_evalkit
from tests.support.prompts import FIXTURE_CHECKOUT


def test_arms_naming_presets_get_them_as_hydra_composes_them():
    rc = hydra_app.compose_run_config(["model=mixtral", "arms=[{model: claude}, {prompt: {version: 1.0.0}}]"])
    claude, mixtral = rc.arms
    assert (claude.model.name, claude.model.family, claude.model.api_key_env) == (
        "claude-3-5-sonnet", "base", "ANTHROPIC_API_KEY")
    assert claude.model.concurrency == 4  # its own value
    # claude.yaml does not name them: every preset has every key, from ModelConfig's defaults
    assert set(claude.model.params) == {"temperature", "top_p", "max_tokens", "stop", "seed", "top_k"}
    assert mixtral.model.name == "mistralai/Mixtral-8x7B-Instruct-v0.1" and mixtral.prompt.version == "1.0.0"


def test_an_arm_naming_an_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown model 'clade'; did you mean 'claude'\? available: "):
        hydra_app.compose_run_config(["arms=[{model: clade}]"])


def test_the_demo_arms_follow_the_dataset_kind():
    generation = hydra_app.compose_run_config([])
    assert [arm.label for arm in generation.arms] == [
        "demo-oracle", "demo-mimic@mixtral-1.0.0", "demo-mimic@mixtral-2.0.0"]
    completion = hydra_app.compose_run_config(["dataset=infilling_single_line"])
    assert [arm.label for arm in completion.arms] == ["demo-oracle", "demo-buggy"]
    assert {arm.prompt.kind for arm in completion.arms} == {"completions"}


def test_arm_kinds_are_checked():
    with pytest.raises(ConfigError, match=r"arms\[\]\.kinds must be a list of generation, completion"):
        hydra_app.compose_run_config(["arms=[{kinds: [generations]}]"])
    with pytest.raises(ConfigError, match="no arm applies to a completion dataset"):
        hydra_app.compose_run_config(["dataset=infilling_single_line", "arms=[{kinds: [generation]}]"])


def test_stage_groups_carry_the_dataclass_defaults_and_take_overrides():
    rc = hydra_app.compose_run_config(["executor=ray", "executor.workers=3", "gate.max_drop=0.05"])
    # its cache where the command was typed, as the store (a sweep job with hydra.job.chdir=true had its own)
    assert rc.executor == ExecutorConfig(kind="ray", workers=3, cache_dir=Path.cwd() / "reports" / "cache")
    assert rc.gate == GateConfig(max_drop=0.05)
    assert rc.report.formats == ("md", "html")
    assert rc.arms[0].prompt.kind == "generations" and rc.arms[0].prompt.family == "mixtral"


def test_missing_config_folder_is_not_called_a_bad_override(monkeypatch, tmp_path):
    monkeypatch.setattr(hydra_app, "CONF_DIR", tmp_path / "nowhere")
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(["dataset.limit=5"])
    assert "bad override" not in str(err.value)
    assert "configuration is missing" in str(err.value) and "reinstall" in str(err.value)


@pytest.mark.slow  # 57 compositions by Hydra, 0.1 to 0.4 s each: the full suite, not the fast tier
@pytest.mark.parametrize(("override", "message"), [
    ("dataset.limit=xyz", "dataset.limit must be an integer, not 'xyz'"),
    ("executor.workers=two", "executor.workers must be an integer, not 'two'"),
    *[(f"executor.workers={n}", f"executor.workers must be at least 1 (null: one per core the run may use), "
                                 f"not {n}") for n in (-1, 0)],
    ("executor.max_in_flight=0", "executor.max_in_flight must be between 1 and 256, not 0"),
    ("executor.timeout_s=fast", "executor.timeout_s must be a number, not 'fast'"),
    ("scoring.lenient=maybe", "scoring.lenient must be true or false, not 'maybe'"),
    ("store.enabled=1", "store.enabled must be true or false, not 1"),
    ("gate.metrics=3", "gate.metrics must be a list, not 3"),
    ("model.params.temperature=hot", "model.params.temperature must be a number, not 'hot'"),
    ("model.params.max_tokens=1.5", "model.params.max_tokens must be an integer, not 1.5"),
    ("model.params.seed=true", "model.params.seed must be an integer, not True"),
    ("model.params.stop=[1, x]", None),  # numbers become text: stop words are text
    # integers are integers: no rounding, no booleans
    ("n_samples=1.5", "n_samples must be an integer, not 1.5"),
    ("n_samples=true", "n_samples must be an integer, not True"),
    ("k=[1.5]", "k[0] must be an integer, not 1.5"),
    ("seed=false", "seed must be an integer, not False"),
    # and in range: a nonsensical setting would run and measure the wrong thing, or crash after it
    ("executor.wall_factor=0", "executor.wall_factor must be at least 1, not 0"),
    ("executor.timeout_s=0", "executor.timeout_s must be above 0, not 0"),
    ("executor.timeout_factor=-1", "executor.timeout_factor must be above 0, not -1"),
    ("executor.timeout_s=nan", "executor.timeout_s must be above 0, not nan"),
    ("executor.memory_mb=0", "executor.memory_mb must be at least 1, not 0"),
    ("executor.max_processes=0", "executor.max_processes must be at least 1, not 0"),
    ("executor.infra_retries=-1", "executor.infra_retries must be at least 0, not -1"),
    ("model.timeout_s=0", "model.timeout_s must be above 0, not 0"),
    ("model.max_retries=-1", "model.max_retries must be at least 0, not -1"),
    ("model.max_concurrency=0", "model.max_concurrency must be at least 1, not 0"),
    ("model.max_error_rate=1.5", "model.max_error_rate must be between 0 and 1, not 1.5"),
    ("k=[1,0]", "k[1] must be at least 1, not 0"),
    ("k=[-1]", "k[0] must be at least 1, not -1"),
    ("k=[1,10,1]", "k names 1 twice; name each once"),  # pass@1 would be reported, and gated, twice
    # sampling parameters every endpoint refuses: each request would come back 400 after the run started
    ("model.params.temperature=-0.5",
     "model.params.temperature must be a finite number of at least 0, not -0.5"),
    ("model.params.temperature=inf",  # "at least 0 and below inf" said nothing a user could act on
     "model.params.temperature must be a finite number of at least 0, not inf"),
    ("model.params.top_p=0", "model.params.top_p must be above 0 and at most 1, not 0"),
    ("model.params.top_p=1.5", "model.params.top_p must be above 0 and at most 1, not 1.5"),
    ("model.params.max_tokens=0", "model.params.max_tokens must be at least 1, not 0"),
    ("model.params.top_k=0", "model.params.top_k must be at least 1, not 0"),
    ("model.params.top_k=4.5", "model.params.top_k must be an integer, not 4.5"),
    ("seed=-1", "seed must be at least 0, not -1"),
    ("n_samples=0", "n_samples must be at least 1, not 0"),
    ("scoring.bootstrap_resamples=0", "scoring.bootstrap_resamples must be at least 1, not 0"),
    ("scoring.confidence=2", "scoring.confidence must be above 0 and below 1, not 2"),
    ("gate.alpha=0", "gate.alpha must be above 0 and below 1, not 0"),
    ("gate.max_latency_p95_ratio=0", "gate.max_latency_p95_ratio must be above 0, not 0"),
    ("dataset.limit=0", "dataset.limit must be at least 1, not 0"),
    ("dataset.task_ids=[]", "dataset.task_ids is empty, so nothing would be measured; name at least one "
                            "(null: every task)"),
    ("dataset.task_ids=[HumanEval/0,HumanEval/1,HumanEval/0]",
     "dataset.task_ids names 'HumanEval/0' twice; name each once"),
    # arms of the wrong shape were a traceback (exit 3); a number as a label was refused by the
    # samples file after every sample had been made, and the run could not be finished
    ("arms=5", "arms must be a list of arms (label, model, prompt, params, kinds, own_registry), not 5"),
    ("arms=[[1]]", "arms[0] must be a mapping of keys, not [1]"),
    ("arms=[{params: 5}]", "arms[0].params must be a mapping of keys, not 5"),
    ("arms=[{prompt: 5}]", "arms[0].prompt must be a mapping of keys, not 5"),
    ("arms=[{model: 5}]", "arms[0].model must be a preset's name or a mapping of keys, not 5"),
    ("arms=[{label: 5}]", "arms[0].label must be a non-empty string, not 5 (quote a label that looks like "
                          "a number: label: '5')"),
])
def test_every_config_value_is_checked_against_its_field_type(override, message):
    if message is None:
        assert hydra_app.compose_run_config([override]).arms[0].model.params["stop"] == ("1", "x")
        return
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config([override])
    assert str(err.value) == message


@pytest.mark.parametrize(("overrides", "message"), [
    (["store.enabled=false", "model.offline=true"],
     "arm demo-oracle: model.offline=true answers from the response store, which store.enabled=false "
     "turns off; drop one of the two"),  # it said the store had no answer for demo-oracle
    (["store.path=null", "store.reuse=true"],
     "store.reuse=true reuses answers from the response store, which store.path=null turns off; drop one "
     "of the two"),  # silently ignored
])
def test_settings_that_read_the_store_need_one(overrides, message):
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(overrides)
    assert str(err.value) == message


@pytest.mark.parametrize(("given", "what"), [
    ("sk-test-secret-abcdef123456", "the value of OPENAI_API_KEY"),  # the shell expanded $OPENAI_API_KEY
    ("abcdef123456XYZ", "the value of MY_KEY"),  # a key that looks like a name, but is a value
    ("not a name!", "not a variable's name"),
])
def test_a_key_given_as_api_key_env_is_refused_without_showing_it(monkeypatch, given, what):
    # It ran, and saved the key in .hydra/config.yaml, overrides.yaml and hydra.yaml.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-abcdef123456")
    monkeypatch.setenv("MY_KEY", "abcdef123456XYZ")
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(["model=openai_compatible", "model.base_url=http://127.0.0.1:9/v1",
                                      "model.name=m", f"model.api_key_env='{given}'"])
    assert str(err.value) == ("model.api_key_env must be the NAME of the environment variable holding the "
                              f"key (e.g. model.api_key_env=OPENAI_API_KEY); what was given is {what} and is "
                              "not shown here, nor saved")
    named = hydra_app.compose_run_config(["model=openai_compatible", "model.base_url=http://127.0.0.1:9/v1",
                                          "model.name=m", "model.api_key_env=MY_KEY"])
    assert named.arms[0].model.api_key_env == "MY_KEY"  # a name that is set is a name


def test_min_concurrency_above_max_concurrency_is_refused():
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(["model.min_concurrency=10", "model.max_concurrency=5"])
    assert str(err.value) == ("model.min_concurrency (10) exceeds model.max_concurrency (5); "
                              "the endpoint's concurrency adapts between the two")


def test_values_of_the_right_type_are_converted_losslessly():
    rc = hydra_app.compose_run_config(["model.params.temperature=1", "report.formats=md",
                                       "dataset.limit=null", "model.params.top_p=null",
                                       "executor.cache_dir=/tmp/c", "n_samples=2.0", "k=[1,2.0]"])
    assert rc.n_samples == 2 and rc.scoring.k == (1, 2) and isinstance(rc.n_samples, int)
    params = rc.arms[0].model.params
    assert params["temperature"] == 1.0 and isinstance(params["temperature"], float)
    assert params["top_p"] is None  # null: the template's value
    assert rc.report.formats == ("md",) and rc.dataset.limit is None
    assert str(rc.executor.cache_dir) == "/tmp/c" and not isinstance(rc.executor.cache_dir, str)


def test_on_a_gateway_registry_the_demo_runs_its_oracle_without_the_comparison_pinned_to_ours():
    rc = hydra_app.compose_run_config([f"prompt.registry={FIXTURE_CHECKOUT}", "dataset.limit=20"])
    assert [arm.label for arm in rc.arms] == ["demo-oracle"]
    assert [line.split(" left out:")[0] for line in rc.left_out] == [  # said on the terminal
        "arm demo-mimic@mixtral-1.0.0", "arm demo-mimic@mixtral-2.0.0"]
    assert prompts.template_for(rc.arms[0]).path.is_relative_to(FIXTURE_CHECKOUT)
    with pytest.raises(ConfigError, match=r"arms\[0\]\.own_registry must be true or false, not 'yes'"):
        hydra_app.compose_run_config(["arms=[{own_registry: yes}]"])


def test_a_changed_copy_of_our_prompts_keeps_the_demo_template_comparison(tmp_path):
    # trying a template edit on a copy of prompts/ is what the comparison is for
    copy = tmp_path / "myprompts"
    shutil.copytree(PROMPTS_DIR, copy)
    rc = hydra_app.compose_run_config([f"prompt.registry={copy}"])
    assert [arm.label for arm in rc.arms] == [
        "demo-oracle", "demo-mimic@mixtral-1.0.0", "demo-mimic@mixtral-2.0.0"]
    assert all(arm.prompt.registry == copy for arm in rc.arms)


@pytest.mark.parametrize(("overrides", "pinned"), [
    (["prompt.version=2.0.0"], "; prompt.version=2.0.0 pins it"),
    (["arms=[{label: a}, {label: b, prompt: {version: 2.0.0}}]"],
     "; arms[1].prompt.version=2.0.0 pins it (an arm of the model config, e.g. conf/model/demo.yaml, "
     "or of arms=[...])"),
])
def test_a_pinned_version_the_registry_lacks_names_the_arm_and_the_pin(overrides, pinned):
    rc = hydra_app.compose_run_config([f"prompt.registry={FIXTURE_CHECKOUT}", *overrides])
    arm = rc.arms[-1]
    with pytest.raises(ConfigError) as err:
        prompts.template_for(arm)
    message = str(err.value)
    assert message.startswith(f"arm {arm.label}: ") and message.endswith(pinned)
    assert "no such template version '2.0.0' of generations family mixtral; it has mvp, 1.0.0" in message


@pytest.mark.parametrize("preset", sorted(path.stem for path in (CONF_DIR / "model").glob("*.yaml")))
def test_every_model_key_can_be_set_whatever_the_preset(preset):
    # a preset writes only its own values; the rest, and every key's default, come from ModelConfig
    # (the demo preset's arms name their own models on its own endpoint: it refuses a name and a URL)
    endpoint = [] if preset == "demo" else ["model.name=served", "model.base_url=http://127.0.0.1:9/v1"]
    rc = hydra_app.compose_run_config([
        f"model={preset}", *endpoint, "model.timeout_s=7",
        "model.stream=true", "model.max_error_rate=0.5", "model.params.seed=3", "model.use_n=false"])
    for arm in rc.arms:
        model = arm.model
        assert (model.timeout_s, model.stream, model.max_error_rate, model.use_n) == (7.0, True, 0.5, False)
        assert model.params["seed"] == 3


@pytest.mark.parametrize("preset", sorted(path.stem for path in (CONF_DIR / "dataset").glob("*.yaml")))
def test_every_dataset_key_can_be_set_whatever_the_preset(preset):
    rc = hydra_app.compose_run_config([
        f"dataset={preset}", "dataset.path=/data/tasks.jsonl", "dataset.limit=2", "dataset.task_ids=[T/1]",
        "dataset.allow_network=false"])
    assert (rc.dataset.name, rc.dataset.path, rc.dataset.limit, rc.dataset.task_ids) == (
        preset, "/data/tasks.jsonl", 2, ("T/1",))


def test_a_missing_required_model_key_says_which():
    with pytest.raises(ConfigError, match=r"model.family is not set; pass model.family=\.\.\."):
        hydra_app.compose_run_config(["model=mixtral", "model.family=???"])
    # every one missing at once (openai_compatible named model.name, then model.base_url, one per try)
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(["model=openai_compatible"])
    assert str(err.value) == ("model.name and model.base_url are not set; pass model.name=... "
                              "model.base_url=... on the command line")


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("mode", ["run", "sweep"])
def test_a_run_directory_that_cannot_be_made_is_one_line_naming_it(tmp_path, mode):
    # Hydra makes the directory and logs into it before the job: its failure was its traceback, exit 1.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    target = ["-m", "seed=1,2", f"hydra.sweep.dir={blocker / 'sweep'}"] if mode == "sweep" else \
        [f"hydra.run.dir={blocker / 'run'}"]
    proc = run_evalkit("run", *target, "dataset.limit=1")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"evalkit: error: cannot use {blocker}: Not a directory"]
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize(("command", "given"), [(["run"], "hydra.run.dir="),
                                                (["run", "-m", "seed=1,2"], "hydra.sweep.dir="),
                                                (["score", "samples=x.jsonl"], "hydra.run.dir=")])
def test_an_empty_run_directory_is_refused_not_the_current_folder(tmp_path, command, given):
    # `hydra.run.dir=$OUT` with OUT unset wrote the whole run into the folder evalkit started in, exit 0
    for subdir in ("", "."):
        empty_subdir = run_evalkit("run", "-m", "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                   f"hydra.sweep.subdir={subdir}", "dataset.limit=1", cwd=tmp_path)
        assert empty_subdir.returncode == 2 and empty_subdir.stderr.startswith(  # each job in the sweep's
            "evalkit: error: hydra.sweep.subdir is empty")  # folder refused the next, and it exited 0
    proc = run_evalkit(*command, given, "dataset.limit=1", cwd=tmp_path)
    key = given.rstrip("=")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"evalkit: error: {key} is empty (an unset variable in {key}=$VAR?); give the folder to write "
        "the run in, or leave it out for one named by the time"]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_command_line_is_checked_says_nothing_was_measured(tmp_path):
    # Ctrl-C half a second in (composing, checking) said "samples written so far are kept" of a run
    # that had not started.
    def interrupted(cfg) -> None:
        raise KeyboardInterrupt

    def job(cfg, run_dir):  # never reached
        raise AssertionError("the job ran")

    with pytest.raises(InterruptedUnmeasured):
        hydra_app.launch("run", [f"hydra.run.dir={tmp_path / 'run'}"], job, check=interrupted)
    assert not (tmp_path / "run").exists()


def test_ctrl_c_that_surfaces_as_another_error_inside_hydra_is_an_interrupt_without_traceback(
        tmp_path, monkeypatch, capsys):
    # Ctrl-C landing in Hydra's own steps (here, setting up the job's logging) can surface as an
    # error raised while handling it: Hydra printed that traceback above "interrupted" and exited 1.
    import hydra.core.utils

    def interrupted_setup(*args, **kwargs) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("half-configured logging") from None

    monkeypatch.setattr(hydra.core.utils, "configure_log", interrupted_setup)

    def job(cfg, run_dir):  # never reached
        raise AssertionError("the job ran")

    with pytest.raises(InterruptedUnmeasured):
        hydra_app.launch("run", [f"hydra.run.dir={tmp_path / 'run'}"], job)
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_hydra_setting_hydra_cannot_apply_is_one_line_and_leaves_no_run_directory(tmp_path, capsys):
    def job(cfg, run_dir):  # never reached
        raise AssertionError("the job ran")

    with pytest.raises(ConfigError) as err:
        hydra_app.launch("run", [f"hydra.run.dir={tmp_path / 'run'}",
                                 "hydra.job_logging.handlers.file.class=nonexistent.Handler"], job)
    assert str(err.value) == "Hydra could not run the command: ValueError: Unable to configure handler 'file'"
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_hydra_starts_the_run_stops_it_before_the_job(tmp_path, monkeypatch):
    # Raised inside omegaconf while Hydra composed the run's configuration, Ctrl-C became an
    # AttributeError that Hydra caught (its reading of the run mode: `except Exception: return None`):
    # the run went on, exit 0. Held while Hydra's app starts (after the command line was checked),
    # it stops the run before the job.
    import os
    import signal
    import time

    from hydra._internal.hydra import Hydra

    original = Hydra.run

    def run(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as Hydra's app composes the run's configuration
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "run", run)
    ran = []
    with pytest.raises(InterruptedUnmeasured):
        hydra_app.launch("run", [f"hydra.run.dir={tmp_path / 'run'}"], lambda cfg, run_dir: ran.append(1))
    assert ran == [] and not (tmp_path / "run").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C raises again


def test_a_run_composes_its_configuration_once_after_the_command_line(tmp_path, monkeypatch):
    # Hydra's app composed the whole configuration a second time only to read hydra.mode (0.2 s of
    # every command): the check's composition, then the app's own, and no third
    from hydra._internal.hydra import Hydra

    composed, original = [], Hydra.compose_config

    def compose_config(self, *args, **kwargs):
        composed.append(kwargs.get("run_mode"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", compose_config)
    ran = []
    hydra_app.launch("run", [f"hydra.run.dir={tmp_path / 'run'}"], lambda cfg, run_dir: ran.append(run_dir))
    assert ran == [tmp_path / "run"] and len(composed) == 2, composed


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_config_of_one_s_own_that_sets_the_mode_is_run_in_that_mode(tmp_path):
    # The command line is checked on evalkit's configuration; one named with -cd/-cn may set
    # hydra.mode itself, which Hydra's app then reads (a multirun where it says so)
    (tmp_path / "mine.yaml").write_text("defaults:\n  - config\n  - _self_\nhydra:\n  mode: MULTIRUN\n")
    ran = []
    with pytest.raises(SystemExit):  # the sweep's summary: its one job measured nothing
        hydra_app.launch("run", ["-cd", str(tmp_path), "-cn", "mine", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                                 f"hydra.run.dir={tmp_path / 'run'}"],
                         lambda cfg, run_dir: ran.append(run_dir))
    assert ran == [tmp_path / "sweep" / "0"], ran


@pytest.mark.parametrize(("override", "message"), [
    ("hydra.run.dir=runs/x/${oops:1}", "hydra.run.dir: Unsupported interpolation type oops"),
    ("hydra.job.name=${oops:1}", "hydra.job.name: Unsupported interpolation type oops"),
])
def test_a_hydra_path_that_cannot_be_resolved_is_one_line(tmp_path, override, message):
    # It was evalkit's internal error: a traceback of 90 lines, exit 3.
    def job(cfg, run_dir):  # never reached
        raise AssertionError("the job ran")

    with pytest.raises(ConfigError) as err:
        hydra_app.launch("run", [override], job)
    assert str(err.value) == message


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
@pytest.mark.parametrize("measured", [False, True])
def test_a_sweep_interrupted_before_it_measured_anything_leaves_no_directory(tmp_path, measured):
    # Ctrl-C in a sweep's first seconds left multirun.yaml, the first job's .hydra/ and an empty
    # samples.jsonl, and said "samples written so far are kept".
    def job(cfg, run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "samples.jsonl").write_text('{"a sample": 1}\n' if measured else "")
        raise KeyboardInterrupt

    sweep_dir = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt) as err:
        hydra_app.launch("run", ["-m", "seed=1,2", f"hydra.sweep.dir={sweep_dir}"], job)
    assert isinstance(err.value, InterruptedUnmeasured) is not measured
    assert sweep_dir.exists() is measured


@pytest.mark.slow  # joblib's worker processes: the full suite, not the fast tier
def test_a_sweep_interrupted_under_joblib_says_where_it_is_kept(tmp_path):
    # joblib runs the jobs in processes of its own, so none started in this one, and Ctrl-C said only
    # "interrupted; samples written so far are kept": where, a time-named folder, went unsaid.
    def job(cfg, run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "samples.jsonl").write_text('{"a sample": 1}\n')
        raise KeyboardInterrupt

    sweep_dir = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt) as err:
        hydra_app.launch("run", ["-m", "seed=1,2", "hydra/launcher=joblib", f"hydra.sweep.dir={sweep_dir}"],
                         job)
    assert isinstance(err.value, InterruptedKept), repr(err.value)
    assert (err.value.run_dir, err.value.key) == (sweep_dir, "hydra.sweep.dir")


@pytest.mark.parametrize("earlier", [False, True])
def test_a_run_interrupted_after_its_last_file_says_it_had_finished(tmp_path, earlier):
    # A nightly owner's trial: Ctrl-C a few ms after results.json (the last file a run writes) said
    # "start the same command again to finish it", and every new start was refused as finished.
    # A results.json an earlier attempt left (one that exited 2) is not this attempt's.
    run_dir = tmp_path / "run"
    if earlier:
        run_dir.mkdir()
        (run_dir / "samples.jsonl").write_text('{"a sample": 1}\n')
        (run_dir / "results.json").write_text("{}\n")
        os.utime(run_dir / "results.json", (1, 1))

    def job(cfg, run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "samples.jsonl", "a") as samples:  # this attempt measured a sample
            samples.write('{"another sample": 1}\n')
        if not earlier:
            (run_dir / "results.json").write_text("{}\n")
        raise KeyboardInterrupt

    with pytest.raises(InterruptedKept) as err:
        hydra_app.launch("run", [f"hydra.run.dir={run_dir}"], job)
    assert err.value.finished is not earlier and err.value.run_dir == run_dir
