"""What a run directory's stages share (rundir.py): the canary in its thread, resuming checks."""

import re
import threading
from contextlib import closing

import pytest

from evalkit.benchmarks import load_benchmark
from evalkit.config import DatasetConfig
from evalkit.execution import LocalExecutor
from evalkit.hydra_app import compose_run_config
from evalkit.rundir import run_id_of, same_endpoint, start_canary
from evalkit.samples import SamplesFile


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_canary_nobody_waits_for_any_more_ends_without_an_error(tmp_path, monkeypatch):
    """Ctrl-C cancels the Future the run awaits while the canary runs: the canary's thread must
    end quietly, not print a traceback beside the run's one-line "interrupted"."""
    cfg = compose_run_config([f"executor.cache_dir={tmp_path / 'cache'}"])
    bench = load_benchmark(DatasetConfig(limit=3))
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    with LocalExecutor(cfg.executor) as executor:
        checked = start_canary(bench, executor, cfg)
        assert checked.cancel()  # still running its reference solutions
        (canary,) = [t for t in threading.enumerate() if t.name == "evalkit-canary"]
        canary.join(timeout=60)
    assert not canary.is_alive()
    assert failures == []


def test_every_attempt_in_a_directory_goes_on_under_its_first_id_and_another_folder_gets_another(tmp_path):
    # An attempt stopped before its first sample stored answers under its id: the next one reads them.
    first_dir = tmp_path / "monday" / "runs" / "mixtral"
    first_dir.mkdir(parents=True)
    with closing(SamplesFile(first_dir / "samples.jsonl")) as samples:
        first = run_id_of(first_dir, samples)
    with closing(SamplesFile(first_dir / "samples.jsonl")) as samples:
        assert run_id_of(first_dir, samples) == first
    assert re.fullmatch(r"mixtral-[0-9a-f]{6}", first)
    other_dir = tmp_path / "tuesday" / "runs" / "mixtral"
    other_dir.mkdir(parents=True)
    with closing(SamplesFile(other_dir / "samples.jsonl")) as samples:
        assert run_id_of(other_dir, samples) != first


def test_a_listing_one_attempt_could_not_read_is_left_out_only_where_a_deployment_names_what_answered():
    # vLLM itself: the listing's root is the only name of the weights; other weights behind a listing
    # that failed once were taken, and the arm pooled two models' answers.
    vllm = {"base_url": "http://gpu:8000/v1", "model": "m", "answered_by": {"model": "m"},
            "served": {"id": "m", "root": "/models/Mixtral-8x7B-Instruct-v0.1", "owned_by": "vllm"}}
    assert not same_endpoint(vllm, vllm | {"served": None})
    assert not same_endpoint(vllm | {"served": None}, vllm)
    # Behind LiteLLM the deployment header names the backend; the proxy's listing only its aliases.
    proxied = {"base_url": "http://proxy:4000/v1", "model": "mixtral",
               "answered_by": {"model": "mixtral", "x-litellm-model-id": "d41d8c"},
               "served": {"id": "mixtral", "owned_by": "openai"}}
    assert same_endpoint(proxied, proxied | {"served": None})
    other = {"model": "mixtral", "x-litellm-model-id": "9e107d"}
    repointed = proxied | {"served": None, "answered_by": other}
    assert not same_endpoint(proxied, repointed)


def test_a_server_release_one_probe_could_not_read_is_no_other_endpoint_but_another_release_is():
    # A reviewer's trial: /version timed out once (or the run was started by an evalkit that read no
    # release), and the resume was refused as "another endpoint" with the same weights and release.
    vllm = {"base_url": "http://gpu:8000/v1", "model": "m", "answered_by": {"model": "m"},
            "served": {"id": "m", "root": "/models/Mixtral-8x7B-Instruct-v0.1", "owned_by": "vllm"},
            "server_version": "0.6.3"}
    unread = {k: v for k, v in vllm.items() if k != "server_version"}
    assert same_endpoint(vllm, unread) and same_endpoint(unread, vllm)
    assert not same_endpoint(vllm, vllm | {"server_version": "0.7.2"})  # an upgrade is another endpoint
    assert not same_endpoint(unread, unread | {"served": vllm["served"] | {"root": "/models/other"}})
