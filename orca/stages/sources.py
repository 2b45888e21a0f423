"""Source features: the body's own embeddings of its pretraining modality, the target of alignment.

One cached artifact per backbone: an ``.npz`` with ``xs`` (N, D) float32 mean-pooled embeddings
and ``ys`` (N,) int64 labels.

- text bodies: English news sentences (gensim's bundled Lee corpus; the paper used CoNLL-2003),
  embedded by the body's own input-embedding layer and mean-pooled over real tokens; labels are
  k-means clusters (k=10) of those features, since the corpus has no classes.
- image bodies, ``image_source="cifar10"`` (the paper's, ORCA src/embedder.py ``get_tgt_model`` with
  ``embedder_dataset: CIFAR10``): 5,000 seeded random CIFAR-10 training images with the original's training
  transforms (random 32-px crop of the 4-px zero-padded image, horizontal flip, CIFAR-10 mean/std), resized
  to the body's image size, through the body's patch embedding, mean-pooled; labels: the CIFAR-10 classes.
  The archive is fetched with pooch and checked against its md5 (:data:`CIFAR10_ARCHIVE`); when it cannot
  be had the offline photographs below are used instead, and the features' ``origin`` and a warning say so.
- image bodies, ``image_source="photos"`` (offline): random crops of scikit-learn's bundled photographs,
  embedded and mean-pooled likewise; labels by k-means.
- the paper's released ``text_xs.npy`` / ``text_ys.npy`` can be used instead (``from_arrays``; README).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch

from ..model.backbones import load_body
from ..runtime.process import atomic_output

SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def news_sentences(min_words: int = 4) -> list[str]:
    """Sentences of the Lee news corpus that ships in gensim's wheel (lee_background.cor + lee.cor)."""
    from gensim.test.utils import datapath

    sentences = []
    for name in ("lee_background.cor", "lee.cor"):
        text = Path(datapath(name)).read_text(encoding="utf8", errors="replace")
        for line in text.splitlines():
            sentences += [s for s in SENTENCE_SPLIT.split(line.strip()) if len(s.split()) >= min_words]
    return sentences


def photo_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` random size x size RGB crops of scikit-learn's sample photographs, (n, 3, size, size) in [0, 1]."""
    from sklearn.datasets import load_sample_images

    images = [img.astype(np.float32) / 255.0 for img in load_sample_images().images]
    rng = np.random.default_rng(seed)
    crops = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        img = images[rng.integers(len(images))]
        top = rng.integers(img.shape[0] - size + 1)
        left = rng.integers(img.shape[1] - size + 1)
        crops[i] = img[top: top + size, left: left + size].transpose(2, 0, 1)
    return crops


def cluster_labels(xs: np.ndarray, k: int = 10, seed: int = 0) -> np.ndarray:
    """k-means labels (N,) int64 for unlabelled features (N, D)."""
    from sklearn.cluster import KMeans

    k = min(k, len(xs))
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(xs).astype(np.int64)


def tokenizer_location(body) -> str:
    """Where the body's tokenizer is read from: its own files; in a rehearsal (tiny random bodies, no
    hub) the offline MiniLM (BERT uncased WordPiece) tokenizer, whose ids fit every text body's vocabulary."""
    if getattr(body, "rehearsal", False):
        from ..model.backbones import get_backbone_spec

        return get_backbone_spec("minilm-l6").location()
    return getattr(body, "weights", None) or body.spec.location()


@torch.no_grad()
def embed_text(body, sentences: list[str], max_tokens: int = 64, batch_size: int = 128) -> np.ndarray:
    """Mean over real tokens of the body's input embeddings, (len(sentences), D)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_location(body))
    out = []
    for i in range(0, len(sentences), batch_size):
        enc = tokenizer(sentences[i: i + batch_size], padding=True, truncation=True, max_length=max_tokens,
                        return_tensors="pt")
        emb = body.embed_text(enc["input_ids"])
        mask = enc["attention_mask"].unsqueeze(-1).to(emb.dtype)
        out.append(((emb * mask).sum(1) / mask.sum(1)).float().numpy())
    return np.concatenate(out)


@torch.no_grad()
def embed_images(body, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Mean over patches of the body's patch embeddings, (N, D)."""
    out = [body.embed_images(torch.from_numpy(images[i: i + batch_size])).mean(1).float().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def build_source_features(backbone: str, max_samples: int = 5000, seed: int = 0, body=None,
                          image_source: str = "photos", data_dir: str | Path | None = None) -> dict:
    """Source features of ``backbone``: {"xs": (N, D), "ys": (N,), "origin": str}.

    Text bodies: the offline news corpus. Image bodies: ``image_source`` ``"cifar10"`` (the paper's; the
    archive lives under ``data_dir/cifar10``; offline photographs when it cannot be fetched, said in
    ``origin``) or ``"photos"``.
    """
    if image_source not in IMAGE_SOURCES:
        raise ValueError(f"unknown image source {image_source!r}; allowed: {', '.join(IMAGE_SOURCES)}")
    # no body.attention here: the features come from the body's input embeddings (embed_text / embed_images), which
    # never reach its self-attention, so the attention implementation (load_body's default) cannot change them
    body = body or load_body(backbone)
    if body.family != "text" and image_source == "cifar10":
        from ..data.core import DataUnavailableError

        try:
            return cifar10_source_features(body, backbone, data_dir, max_samples, seed)
        except DataUnavailableError as e:
            print(f"warning: CIFAR-10 unavailable, {backbone}'s source features fall back to the offline "
                  f"photographs ({e})", file=sys.stderr)
            feats = build_source_features(backbone, max_samples, seed, body, "photos")
            return {**feats, "origin": f"FALLBACK (CIFAR-10 unavailable): {feats['origin']}"}
    rng = np.random.default_rng(seed)
    if body.family == "text":
        sentences = news_sentences()
        if len(sentences) > max_samples:
            sentences = [sentences[i] for i in sorted(rng.choice(len(sentences), max_samples, replace=False))]
        xs = embed_text(body, sentences)
        origin = f"gensim Lee news corpus, {len(sentences)} sentences, embedded by {backbone}'s input embeddings"
    else:
        n = min(max_samples, 1000)
        xs = embed_images(body, photo_crops(n, body.image_size, seed))
        origin = f"{n} crops of scikit-learn sample photographs, embedded by {backbone}'s patch embeddings"
    return {"xs": xs.astype(np.float32), "ys": cluster_labels(xs, seed=seed), "origin": origin}


IMAGE_SOURCES = ("cifar10", "photos")
#: the CIFAR-10 python archive (https://www.cs.toronto.edu/~kriz/cifar.html; the md5 torchvision checks too)
CIFAR10_ARCHIVE = {"name": "cifar-10-python.tar.gz", "urls": ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
                   "md5": "c58f30108f718f92721af3b95e74349a", "size": 170498071}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # ORCA load_cifar's Normalize for 10 classes
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


def cifar10_train_images(data_dir: str | Path, n: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded random CIFAR-10 training images (n, 3, 32, 32) uint8 and their classes (n,) int64.

    The archive is fetched into ``data_dir/cifar10`` (pooch, md5-checked; DataUnavailableError when it cannot
    be had). Its batches are Python pickles, read only after the checksum matched.
    """
    import pickle
    import tarfile

    from ..data.download.fetching import ensure_file

    if data_dir is None:
        raise ValueError("the cifar10 image source needs a data folder (--data-dir) to keep the archive in")
    path = ensure_file(CIFAR10_ARCHIVE["name"], Path(data_dir) / "cifar10", CIFAR10_ARCHIVE)
    xs, ys = [], []
    with tarfile.open(path, "r:gz") as tar:
        for k in range(1, 6):
            batch = pickle.load(tar.extractfile(f"cifar-10-batches-py/data_batch_{k}"), encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    pick = np.sort(np.random.default_rng(seed).permutation(len(x))[: min(n, len(x))])
    return x[pick], y[pick]


def cifar10_transform(images: np.ndarray, size: int, gen: torch.Generator) -> torch.Tensor:
    """ORCA's CIFAR training transforms for uint8 images (B, 3, 32, 32): a random 32-px crop of the image
    zero-padded by 4, a random horizontal flip, CIFAR-10 mean/std; then resized to ``size`` (bilinear), as
    the original resizes before the body. Returns (B, 3, size, size) float32."""
    x = torch.from_numpy(images).float() / 255.0
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    for i in range(len(x)):
        top, left = torch.randint(0, 9, (2,), generator=gen).tolist()
        crop = padded[i, :, top: top + 32, left: left + 32]
        out[i] = crop.flip(-1) if torch.rand((), generator=gen) < 0.5 else crop
    mean, std = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    out = (out - mean) / std
    return torch.nn.functional.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)


@torch.no_grad()
def cifar10_source_features(body, backbone: str, data_dir, max_samples: int = 5000, seed: int = 0,
                            batch_size: int = 64) -> dict:
    """The paper's Swin source features: CIFAR-10 training images through the body's patch embedding,
    mean-pooled over patches; {"xs": (N, D), "ys": CIFAR-10 classes (N,), "origin"}."""
    images, labels = cifar10_train_images(data_dir, max_samples, seed)
    gen = torch.Generator().manual_seed(seed)
    size = body.image_size
    xs = np.concatenate([body.embed_images(cifar10_transform(images[i: i + batch_size], size, gen)).mean(1).float()
                         .numpy() for i in range(0, len(images), batch_size)])
    return {"xs": xs.astype(np.float32), "ys": labels,
            "origin": f"CIFAR-10, {len(images)} training images (seed {seed}), embedded by {backbone}'s patch embeddings"}


def from_arrays(xs_path: str | Path, ys_path: str | Path, max_samples: int = 5000) -> dict:
    """The paper's released features (e.g. text_xs.npy / text_ys.npy): first ``max_samples`` rows."""
    xs = np.load(xs_path)[:max_samples].astype(np.float32)
    ys = np.load(ys_path)[:max_samples].astype(np.int64).reshape(-1)
    if xs.ndim == 3:  # (N, T, D) token features -> mean over tokens
        xs = xs.mean(1)
    if len(xs) != len(ys):
        raise ValueError(f"{xs_path} has {len(xs)} rows but {ys_path} has {len(ys)}; they must match")
    return {"xs": xs, "ys": ys, "origin": f"arrays {xs_path}, {ys_path}"}


def save_source(features: dict, path: str | Path) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, xs=features["xs"], ys=features["ys"], origin=np.array(features["origin"]))


def load_source(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(xs (N, D) float32, ys (N,) int64) from a saved source-feature file."""
    with np.load(path) as f:
        return torch.from_numpy(f["xs"]).float(), torch.from_numpy(f["ys"]).long()
