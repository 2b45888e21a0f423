"""Source features: the paper's CIFAR-10 source for image bodies (fetched with a checksum, offline photographs as
the announced fallback) and the grid's options for it."""
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from orca.stages import sources
from orca.data.core import DataFormatError


def fake_cifar_archive(path, per_batch=8, seed=0):
    """A tarball laid out like cifar-10-python.tar.gz: 5 pickled training batches of ``per_batch`` images."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for k in range(1, 6):
            batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                     b"labels": [int(v) for v in rng.integers(0, 10, per_batch)]}
            raw = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{k}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    data = path.read_bytes()
    return {"md5": hashlib.md5(data).hexdigest(), "size": len(data)}


@pytest.fixture
def cifar_dir(tmp_path, monkeypatch):
    (tmp_path / "cifar10").mkdir()
    facts = fake_cifar_archive(tmp_path / "cifar10" / sources.CIFAR10_ARCHIVE["name"])
    monkeypatch.setattr(sources, "CIFAR10_ARCHIVE", {**sources.CIFAR10_ARCHIVE, **facts})
    return tmp_path


def test_cifar10_images_are_a_seeded_sample_of_the_training_batches(cifar_dir):
    x, y = sources.cifar10_train_images(cifar_dir, n=12, seed=3)
    x2, y2 = sources.cifar10_train_images(cifar_dir, n=12, seed=3)
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (12,)
    np.testing.assert_array_equal(x, x2)
    with tarfile.open(cifar_dir / "cifar10" / sources.CIFAR10_ARCHIVE["name"]) as tar:  # each image keeps its class
        b = pickle.load(tar.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")
    first = np.asarray(b[b"data"]).reshape(-1, 3, 32, 32)
    for img, label in zip(x, y):
        hit = np.flatnonzero((first == img).all(axis=(1, 2, 3)))
        if len(hit):
            assert b[b"labels"][hit[0]] == label


def test_cifar10_transform_normalises_and_resizes():
    img = np.full((2, 3, 32, 32), 128, dtype=np.uint8)
    out = sources.cifar10_transform(img, 64, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 64, 64)
    want = (128 / 255 - torch.tensor(sources.CIFAR10_MEAN)) / torch.tensor(sources.CIFAR10_STD)
    # the crop shifts the image by at most 4 px (8 px at 64): the centre is always image, never padding
    torch.testing.assert_close(out[:, :, 16:48, 16:48].mean(dim=(0, 2, 3)), want.float(), rtol=1e-5, atol=1e-5)


def test_image_bodies_take_cifar10_features_with_the_cifar10_classes(cifar_dir, tiny_image_body):
    feats = sources.build_source_features("swin-base", max_samples=10, body=tiny_image_body, image_source="cifar10",
                                          data_dir=cifar_dir)
    _, labels = sources.cifar10_train_images(cifar_dir, n=10, seed=0)
    assert feats["xs"].shape == (10, tiny_image_body.width) and np.isfinite(feats["xs"]).all()
    np.testing.assert_array_equal(feats["ys"], labels)
    assert feats["origin"].startswith("CIFAR-10, 10 training images")


def test_unreachable_cifar10_falls_back_to_the_photographs_and_says_so(tmp_path, tiny_image_body, monkeypatch, capsys):
    monkeypatch.setattr(sources, "CIFAR10_ARCHIVE", {**sources.CIFAR10_ARCHIVE, "urls": ["http://127.0.0.1:9/c.tgz"]})
    feats = sources.build_source_features("swin-base", max_samples=6, body=tiny_image_body, image_source="cifar10",
                                          data_dir=tmp_path)
    assert feats["origin"].startswith("FALLBACK (CIFAR-10 unavailable): 6 crops of scikit-learn sample photographs")
    assert "CIFAR-10 unavailable" in capsys.readouterr().err and len(feats["xs"]) == 6


def test_a_corrupt_cifar10_archive_is_an_error_not_a_fallback(cifar_dir, tiny_image_body, monkeypatch):
    monkeypatch.setattr(sources, "CIFAR10_ARCHIVE", {**sources.CIFAR10_ARCHIVE, "md5": "0" * 32})
    with pytest.raises(DataFormatError, match="does not match"):
        sources.build_source_features("swin-base", max_samples=6, body=tiny_image_body, image_source="cifar10",
                                      data_dir=cifar_dir)
    with pytest.raises(ValueError, match="unknown image source 'imagenet'"):
        sources.build_source_features("swin-base", body=tiny_image_body, image_source="imagenet")


def test_the_grid_asks_for_cifar10_features_for_image_bodies_only():
    from orca.plan.grid import Grid

    cfg = {"benchmarks": ["benchmarks"], "cache_dir": "c", "results_dir": "r", "reports_dir": "p", "targets": ["t"],
           "tables": {"t": {"tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none"], "seeds": [0]}}}
    grid = Grid(cfg)
    origin = lambda g, b: g.job("sources", backbone=b).get("sources")  # noqa: E731
    assert origin(grid, "swin-base") == {"max_samples": 5000, "from_npy": None, "image_source": "cifar10"}
    assert origin(grid, "minilm-l6") == {"max_samples": 5000, "from_npy": None, "image_source": "photos"}
    assert origin(Grid({**cfg, "image_source": "photos"}), "swin-base")["image_source"] == "photos"


def test_released_text_features_are_the_first_rows_mean_pooled_over_tokens(tmp_path):
    # ORCA load_text: text_xs_32.npy (N, T, D) and text_ys_32.npy, the first 5,000 rows, mean over tokens
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(9, 4, 6)).astype(np.float32), rng.integers(0, 3, 9)
    np.save(tmp_path / "text_xs_32.npy", xs)
    np.save(tmp_path / "text_ys_32.npy", ys)
    feats = sources.from_arrays(tmp_path / "text_xs_32.npy", tmp_path / "text_ys_32.npy", max_samples=5)
    np.testing.assert_allclose(feats["xs"], xs[:5].mean(1), rtol=1e-6)
    np.testing.assert_array_equal(feats["ys"], ys[:5])
    np.save(tmp_path / "short_ys.npy", ys[:3])
    with pytest.raises(ValueError, match="has 5 rows but .* has 3"):
        sources.from_arrays(tmp_path / "text_xs_32.npy", tmp_path / "short_ys.npy", max_samples=5)
