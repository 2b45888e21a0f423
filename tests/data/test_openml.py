import time

import numpy as np
import pandas as pd
import pytest

from orca.data import DataFormatError, DataUnavailableError, fetch, load_task_data
from orca.data.loaders.openml_cache import dataset_cache_dir, openml_cache
from orca.data.loaders.openml_tabular import load_openml, preprocess_table

IRIS = {"dataset_id": 61, "test_size": 0.1, "offline_copy": "sklearn:iris"}
WINE = {"dataset_id": 187, "test_size": 0.1, "offline_copy": "sklearn:wine"}
WDBC = {"dataset_id": 1510, "test_size": 0.1, "offline_copy": "sklearn:breast_cancer"}


@pytest.mark.parametrize(
    "args, n, f, k, name, target",
    [(IRIS, 150, 4, 3, "iris", "class"), (WINE, 178, 13, 3, "wine", "class"),
     (WDBC, 569, 30, 2, "wdbc", "Class")],
)
def test_offline_copy_shapes(no_network, tmp_path, args, n, f, k, name, target):
    d = load_openml(args, 0, tmp_path)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.shape[1:] == (1, f) and d.x_test.shape[1:] == (1, f)
    assert len(d.x_train) + len(d.x_test) == n
    assert len(d.x_test) == int(np.ceil(0.1 * n))
    assert d.info["num_classes"] == k and d.info["dataset_name"] == name
    assert d.info["target"] == target and d.info["source"] == f"openml:{args['dataset_id']}"
    assert set(np.unique(np.concatenate([d.y_train, d.y_test]))) == set(range(k))
    assert not np.isnan(d.x_train).any() and not np.isnan(d.x_test).any()


def test_client_reads_cache_offline(no_network, tmp_path):
    """The real openml client reads what fetch wrote, with all network calls failing."""
    import openml
    from openml.utils import _get_cache_dir_for_id

    fetch("openml", IRIS, tmp_path)
    with openml_cache(tmp_path):
        did_dir = dataset_cache_dir(61)
        assert did_dir == _get_cache_dir_for_id("datasets", 61)
        assert str(did_dir).startswith(str(tmp_path / "openml"))
        ds = openml.datasets.get_dataset(61, download_data=True, download_qualities=True,
                                         download_features_meta_data=True)
        x, y, cat, names = ds.get_data(target=ds.default_target_attribute)
    assert ds.name == "iris" and ds.default_target_attribute == "class"
    assert names == ["sepallength", "sepalwidth", "petallength", "petalwidth"]
    assert x.shape == (150, 4) and cat == [False] * 4
    assert isinstance(y.dtype, pd.CategoricalDtype)
    assert list(y.cat.categories) == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    assert ds.qualities["NumberOfInstances"] == 150.0
    assert ds.features[4].nominal_values == list(y.cat.categories)
    assert (did_dir / "dataset.pkl.py3").is_file()  # the client's own pickle cache


def test_wdbc_labels_match_openml_coding(no_network, tmp_path):
    d = load_openml(WDBC, 0, tmp_path)
    y = np.concatenate([d.y_train, d.y_test])
    assert d.info["class_names"] == ["1", "2"]
    assert np.bincount(y).tolist() == [357, 212]  # benign "1", malignant "2"


def test_standardised_on_full_table(no_network, tmp_path):
    d = load_openml(WINE, 3, tmp_path)
    x = np.concatenate([d.x_train, d.x_test])[:, 0, :].astype(np.float64)
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-4)


def test_stratified_split(no_network, tmp_path):
    d = load_openml(WDBC, 1, tmp_path)
    full = np.bincount(np.concatenate([d.y_train, d.y_test]))
    test = np.bincount(d.y_test, minlength=2)
    np.testing.assert_allclose(test, full * len(d.y_test) / full.sum(), atol=1.0)


def test_seed_reproducible(no_network, tmp_path):
    a = load_task_data("openml", IRIS, 0, tmp_path)
    b = load_openml(IRIS, 0, tmp_path)  # recomputed, not from the prepared cache
    c = load_openml(IRIS, 1, tmp_path)
    assert a.info["test_index"] == b.info["test_index"]
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.info["test_index"] != c.info["test_index"]


def test_preprocess_nan_and_categorical():
    x = pd.DataFrame({
        "num": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "has_nan": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "cat": pd.Categorical(["a", "b", "a", "b", "a", "b", "a", "c"], categories=["a", "b", "c", "z"]),
        "const": [2.0] * 8,
    })
    y = pd.Series(pd.Categorical(["u", "v", "u", "v", None, "u", "v", "u"]))
    xtr, ytr, xte, yte, info = preprocess_table(x, y, [False, False, True, False], 0.25, 0)
    # row 4 (NaN label) dropped -> 7 rows; has_nan dropped (NaN in a kept row)
    assert len(xtr) + len(xte) == 7 and info["dropped_rows_nan_label"] == 1
    assert info["dropped_columns_nan"] == ["has_nan"]
    # unused category "z" gives no column; row 7 ("c") was kept
    assert info["feature_names"] == ["num", "cat=a", "cat=b", "cat=c", "const"]
    allx = np.concatenate([xtr, xte])[:, 0, :]
    assert allx.shape == (7, 5) and allx.dtype == np.float32
    np.testing.assert_allclose(allx[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(allx[:, 0].std(), 1, atol=1e-5)
    assert set(np.unique(allx[:, 1:4])) == {0.0, 1.0}
    np.testing.assert_array_equal(allx[:, 1:4].sum(1), 1)
    assert np.all(allx[:, 4] == 0)  # constant column -> 0, not NaN
    assert info["class_names"] == ["u", "v"] and ytr.dtype == np.int64


def test_preprocess_regression_target():
    x = pd.DataFrame({"a": np.arange(20.0)})
    y = pd.Series(np.linspace(0, 1, 20))
    xtr, ytr, xte, yte, info = preprocess_table(x, y, [False], 0.1, 0)
    assert info["task"] == "regression" and ytr.shape == (18, 1) and ytr.dtype == np.float32


def test_no_copy_offline_fails_fast_with_hint(no_network, tmp_path):
    t = time.perf_counter()
    with pytest.raises(DataUnavailableError) as e:
        fetch("openml", {"dataset_id": 31}, tmp_path)
    assert time.perf_counter() - t < 5
    msg = str(e.value)
    assert "description.xml" in msg and "dataset.arff" in msg and "offline_copy" in msg
    assert "datasets/31" in msg.replace("\\", "/")


def test_no_copy_unreachable_server_fails_fast(tmp_path, monkeypatch):
    """Without socket patching: a refused port must not trigger retries or sleeps."""
    import openml

    monkeypatch.setattr(openml.config, "server", "http://127.0.0.1:9/api/v1/xml")
    t = time.perf_counter()
    with pytest.raises(DataUnavailableError, match="could not be downloaded"):
        load_task_data("openml", {"dataset_id": 61}, 0, tmp_path)
    assert time.perf_counter() - t < 15


def test_corrupt_arff_clear_error(no_network, tmp_path):
    fetch("openml", IRIS, tmp_path)
    with openml_cache(tmp_path):
        arff = dataset_cache_dir(61) / "dataset.arff"
    arff.write_text(arff.read_text()[:500])  # truncated
    with pytest.raises(DataFormatError, match="md5"):
        load_task_data("openml", IRIS, 0, tmp_path)


def test_offline_copy_id_mismatch(tmp_path):
    with pytest.raises(ValueError, match="1510"):
        fetch("openml", {"dataset_id": 61, "offline_copy": "sklearn:breast_cancer"}, tmp_path)


def test_client_config_restored(no_network, tmp_path):
    import openml

    root, retries = openml.config._root_cache_directory, openml.config.connection_n_retries
    load_openml(IRIS, 0, tmp_path)
    assert openml.config._root_cache_directory == root
    assert openml.config.connection_n_retries == retries
