"""The `evalkit` command's first hour: help, mistakes in overrides, runs that cannot measure anything.

These call the console script's entry point in this process (`cli.main`, what `evalkit` runs)
and read what a user would see on stdout and stderr.
"""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest
import yaml

import evalkit
from evalkit import cli, hydra_app


def _fails_with_one_line(capsys, *args: str) -> str:
    assert cli.main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_run_help_names_evalkit_and_its_commands(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("evalkit run [OVERRIDES]")
    assert "evalkit score samples=PATH" in out
    # Hydra's groups are still listed
    assert "model: claude, codegemma, " in out and ", mixtral, openai_compatible" in out
    assert "hydra_app" not in out and "powered by Hydra" not in out


@pytest.mark.parametrize(("override", "closest"), [
    ("modle=mixtral", "'model'"),
    ("+modle=mixtral", "'model'"),  # would otherwise run with the key silently ignored
    ("model.nmae=x", "'model.name'"),
    ("n_sample=3", "'n_samples'"),
    ("datset.limit=5", "'dataset.limit'"),  # the group misspelt: it got no suggestion (a new user's trial)
    ("scoring.x.y=1", "'scoring.metrics'"),  # a setting, never a section ("did you mean 'scoring'?")
])
def test_misspelt_key_names_the_closest_and_never_suggests_adding_it(capsys, tmp_path, override, closest):
    err = _fails_with_one_line(capsys, "run", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert f"did you mean {closest}?" in err
    assert "+" not in err.replace(override, "")
    assert not (tmp_path / "run").exists()


def test_misspelt_group_option_names_the_closest(capsys):
    err = _fails_with_one_line(capsys, "run", "model=mixtrl")
    assert "unknown model 'mixtrl'; did you mean 'mixtral'?" in err


def test_override_syntax_error_is_a_bad_override(capsys):
    err = _fails_with_one_line(capsys, "run", "n_samples=[")
    assert err.startswith("evalkit: error: bad override:")


def _fails_before_any_request(capsys, tmp_path, *overrides: str) -> str:
    """Run against a listening socket; returns the one-line error after checking nobody connected."""
    with socket.socket() as endpoint:
        endpoint.bind(("127.0.0.1", 0))
        endpoint.listen()
        endpoint.setblocking(False)
        port = endpoint.getsockname()[1]
        err = _fails_with_one_line(capsys, "run", "model=mixtral", *overrides,
                                   f"model.base_url=http://127.0.0.1:{port}/v1",
                                   f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 's.sqlite'}")
        with pytest.raises(BlockingIOError):
            endpoint.accept()  # nobody connected
    return err


def test_every_k_above_n_samples_stops_before_any_request(capsys, tmp_path):
    err = _fails_before_any_request(capsys, tmp_path, "k=[100]")
    assert "every k of pass@k (100) exceeds n_samples=10" in err and "n_samples=100" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # starts a run (the pipeline's imports)
def test_a_failed_run_leaves_no_run_directory(capsys, tmp_path):
    err = _fails_with_one_line(capsys, "run", "prompt.version=9.9.9", "dataset.limit=2",
                               f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 's.sqlite'}")
    assert "no such template version '9.9.9'" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # starts a run (the pipeline's imports)
def test_a_failed_run_keeps_what_was_there_before(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "samples.jsonl").write_text('{"a sample": "from an earlier attempt"}\n')
    _fails_with_one_line(capsys, "run", "prompt.version=9.9.9", "dataset.limit=2", f"hydra.run.dir={run_dir}",
                         f"store.path={tmp_path / 's.sqlite'}")
    assert (run_dir / "notes.txt").read_text() == "mine"
    assert (run_dir / "samples.jsonl").read_text().startswith('{"a sample"')
    # the refused attempt's config is not the one the samples were made with: it leaves none behind
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt", "samples.jsonl"]


@pytest.mark.slow  # starts a run (the pipeline's imports)
def test_a_user_folder_given_as_run_dir_only_loses_what_hydra_wrote(capsys, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    _fails_with_one_line(capsys, "run", "prompt.version=9.9.9", f"hydra.run.dir={folder}",
                         f"store.path={tmp_path / 's.sqlite'}")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_name_that_is_not_utf8_is_refused_before_any_work(capsys, tmp_path):
    # What Python makes of the bytes of a Latin-1 file name in the command line: a lone surrogate.
    samples = tmp_path / "r\udce9sultats.jsonl"
    samples.write_bytes(b'{"task_id": "HumanEval/0", "completion": "    return False\\n"}\n')
    run_dir = tmp_path / "run"
    err = _fails_with_one_line(capsys, "score", f"samples='{samples}'", f"hydra.run.dir={run_dir}")
    assert "r\ufffdsultats.jsonl" in err and "is not UTF-8" in err
    assert not run_dir.exists()


@pytest.mark.parametrize("override", ["model=mixtral", "model.name=codestral", "+arms=[{label: v2}]",
                                      "n_samples=20", "prompt.version=2.0.0", "store.reuse=true"])
def test_score_refuses_the_settings_of_a_run_it_would_ignore(capsys, tmp_path, override):
    # `evalkit score ... model=mixtral` scored the file and labelled nothing as mixtral, exit 0: the
    # user believed a setting had been applied that score has no use for
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "    return False\\n"}\n')
    run_dir = tmp_path / "run"
    err = _fails_with_one_line(capsys, "score", f"samples={samples}", override, f"hydra.run.dir={run_dir}")
    key = override.partition("=")[0].lstrip("+")
    assert err.startswith(f"evalkit: error: {key}=: evalkit score has no use for it")
    assert "use evalkit run" in err
    assert not run_dir.exists()


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_the_demo_preset_refuses_an_endpoint_or_model_name_its_arms_would_ignore(capsys, tmp_path):
    # Without model=, `model.base_url=URL model.name=ID` asked the user's server for the demo's models and
    # labelled them synthetic, exit 0; model.name alone was ignored; an unset `$VAR` started the demo
    with socket.socket() as endpoint:
        endpoint.bind(("127.0.0.1", 0))
        endpoint.listen()
        endpoint.setblocking(False)
        url = f"http://127.0.0.1:{endpoint.getsockname()[1]}/v1"
        err = _fails_with_one_line(capsys, "run", f"model.base_url={url}", "model.name=mixtral",
                                   f"hydra.run.dir={tmp_path / 'run'}")
        assert err.startswith("evalkit: error: model.base_url is set, but model is the demo preset")
        assert "model=openai_compatible" in err
        with pytest.raises(BlockingIOError):
            endpoint.accept()  # nobody connected
    err = _fails_with_one_line(capsys, "run", "model.name=demo-buggy", f"hydra.run.dir={tmp_path / 'run'}")
    assert err.startswith("evalkit: error: model.name='demo-buggy' would be ignored: the demo preset's arms "
                          "name their own synthetic models (demo-oracle, demo-mimic)")
    err = _fails_with_one_line(capsys, "run", "model=mixtral", "model.base_url=",
                               f"hydra.run.dir={tmp_path / 'run'}")
    assert err == ("evalkit: error: model.base_url is empty (an unset variable in model.base_url=$VAR?); "
                   "give the endpoint's URL, e.g. http://host:8000/v1")
    # one arm of the demo endpoint under a name it does not serve: its 404 told the user to fix a
    # model.base_url they never set
    err = _fails_with_one_line(capsys, "run", "arms=[{}]", "model.name=nosuch", "dataset.limit=1",
                               f"hydra.run.dir={tmp_path / 'run'}")
    assert err.startswith("evalkit: error: model.name='nosuch' is not a model of the embedded demo endpoint "
                          "(it serves demo-oracle, demo-buggy, demo-mimic); for your own server")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_an_unknown_key_with_no_close_one_is_said_cleanly_and_a_gate_key_points_at_the_gate_s(
        capsys, tmp_path):
    # "unknown key 'zzzzqq'; (`evalkit run --cfg job` ...)": a stray semicolon; and a gate key sent
    # its user to `evalkit run` without a word about where the gate's keys are
    err = _fails_with_one_line(capsys, "run", "zzzzqq=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert err == "evalkit: error: unknown key 'zzzzqq' (`evalkit run --cfg job` lists every key)"
    err = _fails_with_one_line(capsys, "gate", "--baseline", str(tmp_path), "--candidate", str(tmp_path),
                               "gate.nosuch=1")
    assert err == ("evalkit: error: unknown key 'gate.nosuch' (`evalkit run --cfg job` lists the gate's "
                   "keys under gate:)")


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"evalkit {evalkit.__version__}"


KEYS_LISTED = {"score": "`evalkit score --help` lists its keys",
               "run": "`evalkit run --cfg job` lists every key"}
"""Where an option's refusal sends the user for the keys: score's --help lists those it takes."""


@pytest.mark.parametrize("command", ["score", "run"])
def test_an_option_for_an_override_says_to_write_key_equals_value(capsys, command):
    # `--samples nope.jsonl`: Hydra read nope.jsonl as an override ("missing EQUAL at '<EOF>'")
    err = _fails_with_one_line(capsys, command, "--samples", "nope.jsonl")
    assert err == (f"evalkit: error: unknown option --samples: evalkit {command} takes KEY=VALUE overrides "
                   f"(write samples=VALUE; {KEYS_LISTED[command]})")


@pytest.mark.parametrize("command", ["score", "run"])
def test_a_short_option_hydra_does_not_have_is_named_not_parsed_as_an_override(capsys, command):
    # `-n 5` (as in other harnesses): "bad override: LexerNoViableAltException: 5 ^"
    err = _fails_with_one_line(capsys, command, "-n", "5")
    assert err == (f"evalkit: error: unknown option -n: evalkit {command} takes KEY=VALUE overrides "
                   f"({KEYS_LISTED[command]})")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_score_help_is_score_s_and_lists_only_the_keys_it_takes(capsys, flag):
    # It printed run's help: "Any key below is an override (n_samples=20, model.base_url=...)" over
    # n_samples, arms, model.* and store, each of which score then refused (a new user's trial).
    assert cli.main(["score", flag, "dataset.limit=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: evalkit score samples=PATH [OVERRIDES]\n")
    assert "n_samples=20" not in out and "model.base_url" not in out
    config = yaml.safe_load(out.split("(foo.bar=value)\n", 1)[1].split("\nOther commands:", 1)[0])
    assert {"samples", "strict", "k", "seed", "dataset", "executor", "scoring", "report"} <= set(config)
    assert not set(config) & set(cli.SCORE_IGNORES)  # the keys it refuses ("has no use for it")
    assert config["dataset"]["limit"] == 3  # the config the overrides compose to, as Hydra's --help shows
    groups = out.split("== Configuration groups ==", 1)[1].split("== Config ==", 1)[0]
    assert "dataset: humaneval, " in groups and "model:" not in groups and "prompt:" not in groups
    assert "evalkit score --hydra-help" in out


@pytest.mark.parametrize(("given", "written"), [
    ("samples_good.jsonl", "samples=samples_good.jsonl"),  # Hydra: "missing EQUAL at '<EOF>'"
    ("/tmp/x/samples.jsonl", "samples=/tmp/x/samples.jsonl"),  # "extraneous input '/' ..."
    ("../s.jsonl", "samples=../s.jsonl"),  # "LexerNoViableAltException"
    ("my answers.jsonl", "'samples=my answers.jsonl'"),  # quoted for the shell
    ("a(1).jsonl", "'samples=\"a(1).jsonl\"'"),  # and for Hydra, whose grammar has no `(` in a word
])
def test_a_samples_file_given_as_a_plain_argument_says_to_write_samples_equals(capsys, given, written):
    err = _fails_with_one_line(capsys, "score", given)
    assert err == ("evalkit: error: evalkit score takes the samples file as samples=PATH: "
                   f"evalkit score {written}")
    # what it says to type is that file
    assert hydra_app.compose_run_config(shlex.split(written)).samples == Path(given)
    # after other overrides and options too, never the value of an option (`--cfg job`)
    assert _fails_with_one_line(capsys, "score", "dataset.limit=2", "--cfg", "job", given) == err


def test_a_file_given_to_run_says_overrides_are_key_equals_value_and_where_the_file_goes(
        capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("mine").mkdir()
    Path("mine/exp.yaml").write_text("defaults:\n  - config\n  - _self_\nn_samples: 3\n")
    err = _fails_with_one_line(capsys, "run", "mine/exp.yaml")
    assert err == ("evalkit: error: 'mine/exp.yaml' is a file: evalkit run takes KEY=VALUE overrides; a "
                   "config file of your own is --config-dir mine --config-name exp, its defaults list naming "
                   "config (evalkit's) first")
    cli.main(["run", "--config-dir", "mine", "--config-name", "exp", "--cfg", "job"])  # as it says
    assert yaml.safe_load(capsys.readouterr().out)["n_samples"] == 3
    Path("answers.jsonl").write_text("")
    err = _fails_with_one_line(capsys, "run", "answers.jsonl")
    assert err == ("evalkit: error: 'answers.jsonl' is a file: evalkit run takes KEY=VALUE overrides; to "
                   "score the answers a samples file holds: evalkit score samples=answers.jsonl")
    # a word that is no file is a misspelt override, as Hydra says
    assert "missing EQUAL" in _fails_with_one_line(capsys, "run", "mixtral")


def test_gate_says_its_overrides_are_gate_keys_and_its_candidate_a_run_directory(capsys, tmp_path):
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{}")
    err = _fails_with_one_line(capsys, "gate", "--baseline", str(baseline), "--candidate", str(tmp_path),
                               "max_drop=0.1")
    assert err == ("evalkit: error: 'max_drop=0.1': evalkit gate takes gate.KEY=VALUE overrides "
                   "(write gate.max_drop=...)")
    err = _fails_with_one_line(capsys, "gate", "--baseline", str(baseline), "--candidate", str(baseline))
    assert err.startswith(f"evalkit: error: --candidate {baseline}: not a run directory")


def test_a_misspelt_option_of_a_command_is_one_line_naming_it(capsys):
    # argparse printed its usage first, and for gate only that --baseline was missing
    err = _fails_with_one_line(capsys, "gate", "--basline", "b.json", "--candidate", "run")
    assert err.startswith("evalkit: error: evalkit gate: the following arguments are required: --baseline")
    err = _fails_with_one_line(capsys, "prompts", "lint", "--registy", "/tmp")
    assert err == ("evalkit: error: evalkit prompts lint: unrecognized arguments: --registy /tmp "
                   "(`evalkit prompts lint --help` shows its usage)")


def test_unknown_command_lists_the_commands(capsys):
    err = _fails_with_one_line(capsys, "rnu")
    assert "unknown command 'rnu'" in err and "run" in err and "gate" in err



def test_a_bad_sampling_value_stops_before_any_request(capsys, tmp_path):
    err = _fails_before_any_request(capsys, tmp_path, "model.params.temperature=hot")  # "hot" never sent
    assert err == "evalkit: error: model.params.temperature must be a number, not 'hot'"


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_adds_the_traceback_and_keeps_exit_2(capsys, tmp_path, where):
    # after the command (`evalkit run --verbose`) it was "unknown option --verbose ... write verbose=VALUE"
    line = ["run", "dataset.limit=xyz", f"hydra.run.dir={tmp_path / 'run'}"]
    assert cli.main(["--verbose", *line] if where == "before" else [*line, "--verbose"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "ConfigError" in err
    assert err.strip().splitlines()[-1] == "evalkit: error: dataset.limit must be an integer, not 'xyz'"


def test_prompts_render_names_an_option_and_says_how_to_write_it(capsys):
    # `prompts lint --registry DIR` beside `prompts render prompt.registry=DIR`: the first spelling,
    # given to render, was Hydra's "bad override: LexerNoViableAltException: --registry ^"
    err = _fails_with_one_line(capsys, "prompts", "render", "--registry", "/tmp/gw", "task=HumanEval/0")
    assert err == ("evalkit: error: unknown option --registry: evalkit prompts render takes KEY=VALUE "
                   "overrides (write prompt.registry=VALUE; `evalkit run --cfg job` lists every key)")
    for args in (["prompts", "render", "--help"], ["prompts", "--help"]):
        assert cli.main(args) == 0
        assert "evalkit prompts render [OVERRIDES] [task=ID ...]" in capsys.readouterr().out


def test_a_sweep_with_cfg_is_one_line_not_hydras_traceback(capsys):
    err = _fails_with_one_line(capsys, "run", "-m", "model=mixtral,claude", "--cfg", "job")
    assert err.startswith("evalkit: error: -m and --cfg cannot be combined")


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_shell_completion_installs_as_the_help_says_and_completes_each_command_s_keys(capsys, monkeypatch):
    # `evalkit run --hydra-help` says `eval "$(evalkit -sc install=bash)"`: that was "unknown command
    # '-sc'", and the script's query of `evalkit run model=` read `run` as an override (exit 2), its
    # error printed into the prompt line at each Tab (a researcher's trial in a real bash).
    assert cli.main(["-sc", "install=bash"]) == 0
    script = capsys.readouterr().out
    assert "hydra_bash_completion" in script and script.rstrip().endswith("evalkit")
    asked = {"evalkit ": "", "evalkit run model=de": "", "evalkit run dataset.li": "",
             "evalkit score samp": "", "evalkit gate --base": ""}
    for line in asked:
        monkeypatch.setenv("COMP_LINE", line)
        assert cli.main(["-sc", "query=bash"]) == 0, line
        out = capsys.readouterr()
        asked[line] = out.out.split()
        assert not out.err, (line, out.err)
    assert asked["evalkit "][:2] == ["run", "score"]
    assert {"model=deepseek_coder", "model=demo"} <= set(asked["evalkit run model=de"])
    assert asked["evalkit run dataset.li"] == ["dataset.limit="]
    assert asked["evalkit score samp"] == ["samples="]
    assert asked["evalkit gate --base"] == []  # paths: the shell's own completion (-o default)
