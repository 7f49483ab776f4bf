"""Similarity metrics: local `evaluate` modules scored on real HumanEval reference solutions."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from evalkit.config import ConfigError
from evalkit.metrics import METRICS, load_metric, similarity_scores

OFFLINE_METRICS = [name for name in METRICS if name != "embedding_cosine"]


@pytest.fixture(scope="module")
def references(humaneval_tasks):
    return [task.reference for task in humaneval_tasks[:12]]


def _two_space(code: str) -> str:
    """The same code indented by 2 spaces per level instead of 4, with a blank line added."""
    lines = []
    for line in code.splitlines():
        body = line.lstrip()
        lines.append(line[: len(line) - len(body)].replace("    ", "  ") + body)
    return "\n\n".join(lines) + "\n   \n"


def test_reference_against_itself_scores_one(references):
    scores = similarity_scores(references, references, OFFLINE_METRICS)
    for name in OFFLINE_METRICS:
        assert scores[name] == pytest.approx([1.0] * len(references)), name


def test_exact_match_normalises_whitespace_only(references):
    reindented = [_two_space(ref) for ref in references]
    scores = similarity_scores(reindented, references, ["exact_match"])
    assert scores["exact_match"] == [1.0] * len(references)
    spaced = similarity_scores(["x = a+b\nreturn  x\n"], ["x=a + b\nreturn x"], ["exact_match"])
    assert spaced["exact_match"] == [1.0]
    renamed = similarity_scores(["returnx"], ["return x"], ["exact_match"])
    assert renamed["exact_match"] == [0.0]
    # Nesting still matters: a statement moved out of its block is different code.
    moved = similarity_scores(["if a:\n    b()\n    c()"], ["if a:\n    b()\nc()"], ["exact_match"])
    assert moved["exact_match"] == [0.0]


def test_perturbed_code_scores_between_zero_and_one(references):
    perturbed = [ref.replace("return", "yield") + "\n    pass\n" for ref in references]
    scores = similarity_scores(perturbed, references, OFFLINE_METRICS)
    assert scores["exact_match"] == [0.0] * len(references)
    for name in ("edit_similarity", "bleu", "chrf", "codebleu"):
        assert all(0.0 < s < 1.0 for s in scores[name]), (name, scores[name])


def test_empty_prediction_scores_zero(references):
    scores = similarity_scores(["", ""], references[:2], OFFLINE_METRICS)
    for name in OFFLINE_METRICS:
        assert scores[name] == [0.0, 0.0], name


def test_edit_similarity_is_normalised_levenshtein():
    assert similarity_scores(["abcd"], ["abce"], ["edit_similarity"])["edit_similarity"] == [0.75]
    # line ends and whitespace ending a line or the text do not count (a researcher's trial: the
    # reference without its last newline scored 0.996, with CRLF line ends 0.969); indentation does
    reference = "    if x:\n        return 1\n    return 2\n"
    written = ["    if x:\n        return 1\n    return 2", reference.replace("\n", "\r\n"),
               "    if x:   \n        return 1\n    return 2\n\n", "if x:\n    return 1\nreturn 2\n"]
    scores = similarity_scores(written, [reference] * 4, ["edit_similarity"])["edit_similarity"]
    assert scores[:3] == [1.0, 1.0, 1.0] and scores[3] < 0.8


@pytest.mark.alone  # it times the scoring
def test_duplicates_are_scored_once_and_fanned_out(references):
    predictions = [references[0], references[1] + "#", references[0]] * 10_000
    refs = [references[0], references[0], references[0]] * 10_000
    started = time.perf_counter()
    scores = similarity_scores(predictions, refs, ["codebleu", "edit_similarity"])
    # 30,000 pairs at ~0.3 ms each would take ~9 s; two distinct pairs take milliseconds.
    assert time.perf_counter() - started < 3
    assert len(scores["codebleu"]) == 30_000
    assert scores["codebleu"][:3] == scores["codebleu"][3:6]
    assert scores["codebleu"][0] == scores["codebleu"][2] == pytest.approx(1.0)
    assert scores["codebleu"][1] < 1.0


def test_metric_modules_are_evaluate_modules_cached_per_process():
    import evaluate

    module = load_metric("chrf")
    assert isinstance(module, evaluate.EvaluationModule)
    assert load_metric("chrf") is module
    assert module.compute(predictions=["a b"], references=["a b"]) == {"scores": [1.0]}


@pytest.mark.slow  # starts processes: the full suite, not the fast tier
def test_loading_every_metric_leaves_scipy_stats_out_yet_importable():
    """evaluate's Evaluator would import scipy.stats (56 MB of the harness, a third of a second
    of start-up); evalkit never uses it, yet the Evaluator and evalkit's own statistics still
    get scipy.stats when they use it."""
    script = textwrap.dedent(f"""
        import sys
        from evalkit.metrics import load_metrics, similarity_scores
        load_metrics({OFFLINE_METRICS!r})
        assert "scipy.stats" not in sys.modules, "scipy.stats imported"
        evaluator = sys.modules["evaluate.evaluator.base"]  # evaluate's Evaluator still has scipy
        assert evaluator.SCIPY_AVAILABLE
        interval = evaluator.bootstrap(([1.0, 2.0, 3.0, 4.0],), sum, n_resamples=50).confidence_interval
        assert interval.low <= interval.high and "scipy.stats" in sys.modules
        code = "def f(x):\\n    return x + 1\\n"
        print(similarity_scores([code], [code], {OFFLINE_METRICS!r}))
        from evalkit.metrics.stats import mcnemar
        print(mcnemar([False] * 8, [True] * 8)["p_value"])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    scores, p_value = out.stdout.splitlines()
    assert all(value == [1.0] for value in eval(scores).values())  # noqa: S307 - our own print
    assert float(p_value) == pytest.approx(2 * 0.5 ** 8)


def test_unknown_metric_and_misaligned_inputs_fail_clearly():
    with pytest.raises(ConfigError, match="unknown similarity metric 'rouge'"):
        similarity_scores(["a"], ["a"], ["rouge"])
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        similarity_scores(["a", "b"], ["a"], ["exact_match"])
    assert similarity_scores([], [], ["bleu"]) == {"bleu": []}


def test_embedding_cosine_needs_a_local_model_path():
    with pytest.raises(ConfigError, match="scoring.embedding_model"):
        similarity_scores(["a"], ["a"], ["embedding_cosine"])


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed",
)
def test_embedding_cosine_without_sentence_transformers_says_so(tmp_path):
    with pytest.raises(ConfigError, match="sentence-transformers package, which is not installed"):
        similarity_scores(["a"], ["a"], ["embedding_cosine"], embedding_model=tmp_path)


_OFFLINE_CHILD = textwrap.dedent(
    """
    import ctypes, sys
    if ctypes.CDLL(None).unshare(0x40000000) != 0:  # CLONE_NEWNET: no route anywhere
        sys.exit(77)
    attempts = []
    sys.addaudithook(lambda event, args: attempts.append((event, args))
                     if event in ("socket.connect", "socket.getaddrinfo") else None)
    from evalkit.metrics import similarity_scores
    names = ["exact_match", "edit_similarity", "bleu", "chrf", "codebleu"]
    scores = similarity_scores(["def f():\\n    return 1"], ["def f():\\n    return 1"], names)
    assert all(scores[n] == [1.0] for n in names), scores
    assert not attempts, attempts
    print("ok")
    """
)


@pytest.mark.slow
def test_modules_load_and_score_with_no_network_and_an_empty_hf_cache(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env["HF_HOME"] = str(tmp_path / "hf")  # nothing cached: a hub lookup would have to go online
    child = subprocess.run([sys.executable, "-c", _OFFLINE_CHILD], env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    if child.returncode == 77:
        pytest.skip("cannot create a network namespace here (needs root)")
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip() == "ok"
