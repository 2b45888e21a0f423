"""orca/report/questions.py: a table's questions answered from paired differences over seeds."""
import math

import pandas as pd
import pytest

from orca.report import build_report
from orca.report.aggregate import load_runs, summarise
from orca.report.questions import answer_line, answer_questions

from .fabricate import tiny_config, write_runs

QUESTIONS = [{"question": "Does alignment help?", "method": "otdd-exact", "reference": "none"},
             {"question": "Does l2 help?", "method": "l2", "reference": "none"},
             {"question": "Does ORCA beat XGBoost?", "method": "otdd-exact", "reference": "xgboost"}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("questions")
    return tmp, write_runs(tmp, tiny_config(tmp))


def test_answers_are_the_paired_differences_over_seeds(runs):
    _, files = runs
    df = load_runs(files, default_table="tiny")
    answers = answer_questions(summarise(df), df, "selected", QUESTIONS)
    align = answers[answers.question == "Does alignment help?"].set_index("task")
    assert set(align.index) == {"iris", "wine"} and (align["n"] == 3).all()
    for task in ("iris", "wine"):  # by hand: mean of the per-seed differences
        ours = df[(df.task == task) & (df.method == "otdd-exact")].set_index("seed")["selected"]
        ref = df[(df.task == task) & (df.method == "none")].set_index("seed")["selected"]
        assert align.loc[task, "diff"] == pytest.approx((ours - ref).mean())
        assert align.loc[task, "low"] < align.loc[task, "diff"] < align.loc[task, "high"]
    # fabricated means: otdd-exact 0.12 vs none 0.20 (a loss), l2 0.21 vs none 0.20 with seed noise 0.003
    assert (align["verdict"] == "better").all()
    l2 = answers[answers.question == "Does l2 help?"]
    assert set(l2["verdict"]) <= {"worse", "tie"}
    assert answer_line(answers, QUESTIONS[0]) == ("**Does alignment help?** `otdd-exact` vs `none`: "
                                                   "better on 2 of 2 tasks.")


def test_a_question_no_task_ran_says_so(runs):
    _, files = runs
    df = load_runs(files, default_table="tiny")
    q = {"question": "Does LoRA match?", "method": "lora", "reference": "none"}
    answers = answer_questions(summarise(df), df, "selected", [q])
    assert answers.empty and answer_line(answers, q).endswith("no task of this table ran both.")


def test_one_seed_is_untested(tmp_path):
    files = write_runs(tmp_path, tiny_config(tmp_path, seeds=(0,)))
    df = load_runs(files, default_table="tiny")
    answers = answer_questions(summarise(df), df, "selected", QUESTIONS[:1])
    assert (answers["verdict"] == "").all() and answers["low"].map(math.isnan).all()
    assert answer_line(answers, QUESTIONS[0]).endswith("untested on 2 of 2 tasks.")


def test_the_report_has_a_questions_section(runs, tmp_path):
    _, files = runs
    out = build_report(files, "tiny", tmp_path / "results", tmp_path / "reports", None, questions=QUESTIONS)
    md = out["md"].read_text()
    assert "## Questions" in md and "**Does ORCA beat XGBoost?** `otdd-exact` vs `xgboost`" in md
    assert r"\item Does alignment help? otdd-exact vs none: better on 2 of 2 tasks." in out["tex"].read_text()
    plain = build_report(files, "tiny", tmp_path / "r2", tmp_path / "p2", None)
    assert "## Questions" not in plain["md"].read_text()
    assert len(pd.read_csv(plain["csv"])) == len(pd.read_csv(out["csv"]))


def test_a_question_about_a_method_the_table_lacks_is_a_config_error():
    import yaml

    from orca.plan.grid import ConfigError, Grid

    config = yaml.safe_load(open("config/config.yaml"))
    config["tables"]["default"]["questions"] = [{"question": "q", "method": "lora", "reference": "none"}]
    with pytest.raises(ConfigError, match=r"tables.default.questions\[0\].method: 'lora' is not a method"):
        Grid(config)


def test_a_task_answered_under_two_protocols_counts_cells():
    rows = pd.DataFrame([{"question": "q", "task": "t", "verdict": v} for v in ("better", "tie")])
    line = answer_line(rows, {"question": "q", "method": "a", "reference": "b"})
    assert line.endswith("better on 1, tied on 1 of 2 cells (task, backbone, protocol).")
