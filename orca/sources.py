"""Source features: the body's own embeddings of its pretraining modality, the target of alignment.

One cached artifact per backbone: an ``.npz`` with ``xs`` (N, D) float32 mean-pooled embeddings
and ``ys`` (N,) int64 labels.

- text bodies: English news sentences (gensim's bundled Lee corpus; the paper used CoNLL-2003),
  embedded by the body's own input-embedding layer and mean-pooled over real tokens; labels are
  k-means clusters (k=10) of those features, since the corpus has no classes.
- image bodies: random crops of scikit-learn's bundled photographs, embedded by the body's own
  patch embedding and mean-pooled; labels by k-means likewise (the paper used 5,000 CIFAR-10 images).
- the paper's released ``text_xs.npy`` / ``text_ys.npy`` can be used instead (``from_arrays``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .model.backbones import load_body

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
    from .rehearsal import active as rehearsal

    if rehearsal():
        from .model.backbones import get_backbone_spec

        return get_backbone_spec("minilm-l6").location()
    return body.spec.location()


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


def build_source_features(backbone: str, max_samples: int = 5000, seed: int = 0, body=None) -> dict:
    """Source features of ``backbone`` from the offline corpora: {"xs": (N, D), "ys": (N,), "origin": str}."""
    body = body or load_body(backbone)
    rng = np.random.default_rng(seed)
    if body.family == "text":
        sentences = news_sentences()
        if len(sentences) > max_samples:
            sentences = [sentences[i] for i in sorted(rng.choice(len(sentences), max_samples, replace=False))]
        xs = embed_text(body, sentences)
        origin = f"gensim Lee news corpus, {len(sentences)} sentences, embedded by {backbone}'s input embeddings"
    else:
        n = min(max_samples, 1000)
        xs = embed_images(body, photo_crops(n, body.spec.image_size or 224, seed))
        origin = f"{n} crops of scikit-learn sample photographs, embedded by {backbone}'s patch embeddings"
    return {"xs": xs.astype(np.float32), "ys": cluster_labels(xs, seed=seed), "origin": origin}


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, xs=features["xs"], ys=features["ys"], origin=np.array(features["origin"]))
    tmp.replace(path)


def load_source(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(xs (N, D) float32, ys (N,) int64) from a saved source-feature file."""
    with np.load(path) as f:
        return torch.from_numpy(f["xs"]).float(), torch.from_numpy(f["ys"]).long()
