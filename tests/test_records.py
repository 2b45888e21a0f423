"""orca/stages/records.py: the one run-record type, written by the stages and read back by the report."""
import json

import pytest

from orca.stages.records import RunRecord, read_record, write_record


def record(**extra) -> RunRecord:
    return RunRecord(task="iris", task_title="Iris", suite="offline", backbone="minilm-l6", method="none", seed=0,
                     metric="one_minus_auroc", metric_display="1-AUROC", higher_is_better=False,
                     scores={"test_at_best_val": 0.1, "test_last_epoch": 0.2, "best_val": 0.05, "best_epoch": 3},
                     num_train=100, num_val=10, num_test=15, data_sha256="ab", settings={"data": {}},
                     settings_hash="0123456789ab", published_key=None, wall_time_s=1.5,
                     provenance={"run_file": "r.json"}, extra=extra)


def test_round_trip_keeps_stage_fields_beside_the_common_ones(tmp_path):
    rec = record(history=[{"epoch": 1, "train_loss": 0.5, "val": 0.1}], embedder=None)
    write_record(rec, tmp_path / "r.json")
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["history"][0]["epoch"] == 1 and "embedder" in on_disk and "extra" not in on_disk
    assert read_record(tmp_path / "r.json") == rec


def test_a_baseline_record_has_no_refine_fields(tmp_path):
    write_record(record(), tmp_path / "b.json")
    assert not {"history", "embedder"} & set(json.loads((tmp_path / "b.json").read_text()))


def test_missing_fields_and_broken_files_name_the_file(tmp_path):
    obj = record().to_json()
    del obj["settings_hash"], obj["scores"]
    (tmp_path / "m.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match=r"m.json: missing fields \['scores', 'settings_hash'\]"):
        read_record(tmp_path / "m.json")
    (tmp_path / "t.json").write_text('{"task": ')
    with pytest.raises(ValueError, match="t.json: not valid JSON"):
        read_record(tmp_path / "t.json")
