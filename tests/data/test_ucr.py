import numpy as np
import pytest

from orca.data import DataFormatError, DataUnavailableError, fetch, load_task_data
from orca.data.loaders.ucr import load_ucr


def test_ecg5000_official_split(tmp_path):
    d = load_ucr({"name": "ECG5000"}, 0, tmp_path)
    assert d.x_train.shape == (500, 1, 140) and d.x_test.shape == (4500, 1, 140)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.info["num_classes"] == 5 and d.info["class_names"] == ["1", "2", "3", "4", "5"]
    y = np.concatenate([d.y_train, d.y_test])
    assert y.min() == 0 and y.max() == 4
    assert np.bincount(d.y_train).tolist() == [292, 177, 10, 19, 2]
    assert not np.isnan(d.x_train).any()


def test_seed_unused(tmp_path):
    a = load_ucr({"name": "ECG5000"}, 0, tmp_path)
    b = load_ucr({"name": "ECG5000"}, 7, tmp_path)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)


def _write(folder, name, rows_train, rows_test):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("TRAIN", rows_train), ("TEST", rows_test)):
        (folder / f"{name}_{split}.tsv").write_text(
            "\n".join("\t".join(str(v) for v in r) for r in rows) + "\n")


def test_user_folder_label_mapping(tmp_path):
    _write(tmp_path / "ucr", "Toy", [[-1, 0.1, 0.2, 0.3], [1, 1.0, 2.0, 3.0]],
           [[1, 0.0, 0.0, 0.0], [-1, 5, 6, 7], [1, 1, 1, 1]])
    d = load_task_data("ucr", {"name": "Toy", "path": "ucr"}, 0, tmp_path)
    assert d.x_train.shape == (2, 1, 3) and d.x_test.shape == (3, 1, 3)
    assert d.y_train.tolist() == [0, 1] and d.y_test.tolist() == [1, 0, 1]
    assert d.info["class_names"] == ["-1", "1"]
    np.testing.assert_allclose(d.x_train[1, 0], [1.0, 2.0, 3.0])


def test_missing_name_clear_error(tmp_path):
    with pytest.raises(DataUnavailableError) as e:
        fetch("ucr", {"name": "ECG500"}, tmp_path)
    assert "ECG500_TRAIN.tsv" in str(e.value) and "ECG5000" in str(e.value)


def test_corrupt_tsv(tmp_path):
    _write(tmp_path / "u", "Bad", [[1, 0.5, 0.5]], [[1, 0.5, 0.5]])
    (tmp_path / "u" / "Bad_TRAIN.tsv").write_text("1\t0.5\tabc\n2\t0.1\n")
    with pytest.raises(DataFormatError, match="Bad_TRAIN.tsv"):
        load_task_data("ucr", {"name": "Bad", "path": "u"}, 0, tmp_path)


def test_unknown_arg_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown args"):
        load_ucr({"name": "ECG5000", "split": "x"}, 0, tmp_path)
