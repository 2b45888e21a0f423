"""prepare_split with the task-file options: normalisation fitted on train only, ignored targets, clip ids."""
import numpy as np
import pytest

from orca.data.normalize import DEFAULT_EPS
from orca.data.taskdata import DataError, prepare_split

RNG = np.random.default_rng(0)


def dense_arrays(n_train=40, n_test=10, shift_test=100.0):
    """1d dense toy: x (N, 2, 8), y = 3 x[:, :1] + 5 (N, 1, 8); the test set is shifted far away, so statistics
    that saw it would show."""
    x = RNG.normal(size=(n_train + n_test, 2, 8)).astype(np.float32)
    x[n_train:] += shift_test
    y = (3 * x[:, :1] + 5).astype(np.float32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}


def test_normalisation_is_fitted_on_the_training_part_only(toy_task, tmp_path):
    arrays = dense_arrays()
    raw = prepare_split(toy_task(arrays), 0, tmp_path / "data")
    task = toy_task(arrays, {"data": {"normalize": {"inputs": "fit", "targets": "fit"}}}, name="norm")
    norm = prepare_split(task, 0, tmp_path / "data")
    # statistics of the training part (validation rows and the test set excluded), per channel
    mean = raw.x_train.mean(axis=(0, 2), keepdims=True)
    scale = raw.x_train.std(axis=(0, 2), ddof=1, keepdims=True) + DEFAULT_EPS
    for part in ("train", "val", "test"):
        np.testing.assert_allclose(getattr(norm, f"x_{part}"), (getattr(raw, f"x_{part}") - mean) / scale,
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.x_train.mean(axis=(0, 2)), 0.0, atol=1e-5)
    assert norm.x_test.mean() > 10  # the shifted test set stays shifted: it did not enter the fit
    # targets stay raw; the fitted target normaliser (training part only) decodes model outputs
    np.testing.assert_array_equal(norm.y_test, raw.y_test)
    assert norm.y_normalizer.mean.ravel()[0] == pytest.approx(raw.y_train.mean(), rel=1e-5)
    assert raw.y_normalizer is None and raw.checksum() != norm.checksum()


def test_targets_on_the_input_scale_as_orca_1d_cfd(toy_task, tmp_path):
    arrays = dense_arrays()
    arrays["y_train"], arrays["y_test"] = arrays["x_train"][:, :1] * 2, arrays["x_test"][:, :1] * 2
    arrays["x_train"], arrays["x_test"] = arrays["x_train"][:, :1], arrays["x_test"][:, :1]
    raw = prepare_split(toy_task(arrays), 0, tmp_path / "data")
    spec = {"inputs": {"fit": "element"}, "targets": "inputs", "score_scale": "normalized"}
    norm = prepare_split(toy_task(arrays, {"data": {"normalize": spec}}, name="cfd"), 0, tmp_path / "data")
    mean = raw.x_train.mean(axis=0)
    scale = raw.x_train.std(axis=0, ddof=1) + DEFAULT_EPS
    np.testing.assert_allclose(norm.y_test, (raw.y_test - mean) / scale, rtol=1e-5, atol=1e-5)
    assert norm.y_normalizer is None  # scored on the normalised scale: nothing to decode


def test_nan_targets_rejected_unless_ignored(toy_task, tmp_path):
    arrays = dense_arrays()
    arrays["y_train"][3, 0, :4] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite.*output.ignore"):
        prepare_split(toy_task(arrays), 0, tmp_path / "data")
    split = prepare_split(toy_task(arrays, {"output": {"ignore": {"nan": True}}, "loss": {"name": "mse"},
                                            "metric": "mae8"}, name="ign"), 0, tmp_path / "data")
    assert np.isnan(split.y_train).sum() + np.isnan(split.y_val).sum() == 4
    arrays["y_train"][:] = np.nan
    with pytest.raises(DataError, match="every target entry is ignored"):
        prepare_split(toy_task(arrays, {"output": {"ignore": {"nan": True}}, "loss": {"name": "mse"},
                                        "metric": "mae8"}, name="allnan"), 0, tmp_path / "data")


def test_ignored_targets_do_not_enter_the_target_statistics(toy_task, tmp_path):
    arrays = dense_arrays()
    arrays["y_train"][:, 0, 0] = -1.0  # an ignore marker in every sample's first cell
    opts = {"output": {"ignore": {"value": -1}}, "loss": {"name": "mse"}, "metric": "mae8",
            "data": {"normalize": {"targets": "fit"}}}
    split = prepare_split(toy_task(arrays, opts, name="ignv"), 0, tmp_path / "data")
    kept = split.y_train[:, :, 1:]
    assert split.y_normalizer.mean.ravel()[0] == pytest.approx(kept.mean(), rel=1e-5)


def multilabel_clips(n_clips_train=12, n_clips_test=4, chunks=3):
    """Multi-label toy: every clip has ``chunks`` samples sharing the clip's labels (3 labels)."""
    def part(n_clips, first_id):
        ids = np.repeat(np.arange(first_id, first_id + n_clips), chunks)
        labels = RNG.integers(0, 2, (n_clips, 3))
        labels[:, 0] = 1  # every label has positives
        return RNG.normal(size=(len(ids), 1, 8)).astype(np.float32), np.repeat(labels, chunks, axis=0), ids
    x, y, ids = part(n_clips_train, 0)
    xt, yt, idt = part(n_clips_test, 1000)
    return {"x_train": x, "y_train": y.astype(np.float32), "x_test": xt, "y_test": yt.astype(np.float32),
            "clip_ids_train": ids, "clip_ids_test": idt}


GROUPED = {"output": {"kind": "multilabel"}, "loss": {"name": "bce_logits"}, "metric": "one_minus_map",
           "eval": {"group_by": "clip_ids"}}


def test_clip_ids_travel_with_the_split_and_validation_takes_whole_clips(toy_task, tmp_path):
    arrays = multilabel_clips()
    split = prepare_split(toy_task(arrays, GROUPED, name="fsd"), 0, tmp_path / "data")
    np.testing.assert_array_equal(split.groups_test, arrays["clip_ids_test"])
    assert len(split.groups_val) == len(split.y_val) and len(split.groups_val) % 3 == 0
    val_clips = set(split.groups_val.tolist())
    assert len(val_clips) == 2  # ceil(0.1 * 12) clips, each with all its chunks
    assert len(split.y_train) == len(arrays["y_train"]) - 6


def test_group_by_without_test_ids_names_the_fix(toy_task, tmp_path):
    arrays = multilabel_clips()
    del arrays["clip_ids_test"], arrays["clip_ids_train"]
    with pytest.raises(DataError, match="no 'clip_ids_test' array.*args.extras.clip_ids_test"):
        prepare_split(toy_task(arrays, GROUPED, name="noids"), 0, tmp_path / "data")


def test_original_crop_lengths_come_from_the_data_and_no_validation_carve_keeps_every_row(toy_task, tmp_path):
    from orca.data.taskdata import DataError, prepare_split

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(10, 1, 8)).astype(np.float32), "y_train": rng.normal(size=(10, 1, 8)),
              "x_test": rng.normal(size=(3, 1, 8)).astype(np.float32), "y_test": rng.normal(size=(3, 1, 8)),
              "length_test": np.array([5, 6, 7])}
    task = toy_task(arrays, {"eval": {"original_crop": {"lengths": "length", "offset": 1}}})
    whole = prepare_split(task, 0, tmp_path / "data", validation=False)
    np.testing.assert_array_equal(whole.crop_lengths_test, [5, 6, 7])
    assert len(whole.x_train) == 10 and len(whole.x_val) == 0
    np.testing.assert_array_equal(whole.x_train, arrays["x_train"])
    carved = prepare_split(task, 0, tmp_path / "data")
    assert len(carved.x_train) + len(carved.x_val) == 10 and len(carved.x_val) > 0
    task = toy_task({k: v for k, v in arrays.items() if k != "length_test"},
                    {"eval": {"original_crop": {"lengths": "length"}}}, name="nolen")
    with pytest.raises(DataError, match="no 'length_test' array"):
        prepare_split(task, 0, tmp_path / "data")
