"""FSD50K chunk archive -> log-mel features (``nb360_fsd50k`` step), on a tiny archive in the chunk recipe's layout."""
import io
import json
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile

from orca.data import DataFormatError, load_task_data
from orca.data.preparation.fsd50k_raw import (
    FSD_DEFAULTS,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    prepare_fsd50k,
)
from orca.data.preparation.prepare import resolve_args
from orca.data.preparation.prepare import prepare_task
from orca.spec.tasks import load_task
from tests.workflow.test_e2e import REPO

SR = 22050
LABELS = ["Bark", "Guitar", "Music", "Speech"]


def tone(freq, seconds=1.0, seed=0):
    t = np.arange(int(SR * seconds)) / SR
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise).clip(-1, 1)


def wav_bytes(x):
    buf = io.BytesIO()
    wavfile.write(buf, SR, (x * 32767).astype(np.int16))
    return buf.getvalue()


def write_audio_zip(path):
    """chunks/{tr,val,eval}.csv (files, labels, ext) + lbl_map.json, chunk wavs <clip>_<k:04d>.wav in two folders.

    The manifests hold absolute paths of another machine, as the chunk recipe writes them."""
    clips = {"train": {"101": ("Bark", [300, 400, 500]), "102": ("Guitar,Music", [1000, 1100])},
             "val": {"103": ("Speech", [700])},
             "eval": {"201": ("Music", [2000, 2100, 2200]), "202": ("Bark,Speech", [600])}}
    audio = {}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("chunks/lbl_map.json", json.dumps({lbl: i for i, lbl in enumerate(LABELS)}))
        for part, manifest in (("train", "tr.csv"), ("val", "val.csv"), ("eval", "eval.csv")):
            folder = "eval_22050_chunks" if part == "eval" else "dev_22050_chunks"
            rows = []
            for clip, (labels, freqs) in clips[part].items():
                for k, f in enumerate(freqs):
                    name = f"{clip}_{k:04d}.wav"
                    x = tone(f, 0.6 if (clip, k) == ("202", 0) else 1.0, seed=int(clip) + k)  # one short chunk
                    audio[name] = x
                    z.writestr(f"{folder}/{name}", wav_bytes(x))
                    rows.append({"files": f"/home/someone/fsd50k/{folder}/{name}", "labels": labels, "ext": clip})
            z.writestr(f"chunks/{manifest}", pd.DataFrame(rows).to_csv(index=False))
    return clips, audio


def _args(**kw):
    return resolve_args({"step": "nb360_fsd50k", "files": [{"name": "audio.zip", "note": "x"}],
                         "args": {"archive": "audio.zip", **kw}})


def reference_log_mel(x, a):
    """Independent numpy version: reflect-padded frames, periodic Hann (661) centred in 1920, rfft power."""
    n_fft, hop, win = a["n_fft"], a["hop_length"], a["win_length"]
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    frames = np.stack([xp[i:i + n_fft] * window for i in range(0, len(xp) - n_fft + 1, hop)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = power @ mel_filterbank(n_fft // 2 + 1, a["n_mels"], SR).astype(np.float64)
    db = 10 * np.log10(np.maximum(mel.T, 1e-10))
    db = np.maximum(db, db.max() - 80.0) + 75.0
    return db - db.mean()


def test_log_mel_matches_an_independent_stft_and_pads_to_frames():
    a = dict(FSD_DEFAULTS)
    x = tone(1000.0).astype(np.float32)
    feats = log_mel(x, a, mel_filterbank(961, 96, SR))
    assert feats.shape == (96, 102) and feats.dtype == np.float32
    ref = reference_log_mel(x, a)
    assert ref.shape == (96, 101)  # 1 s at hop 220: 1 + 22050 // 220 frames
    np.testing.assert_allclose(feats[:, :101], ref, atol=2e-3)
    assert (feats[:, 101] == feats.min()).all() and abs(feats[:, :101].mean()) < 1e-4
    peak = feats[:, :101].mean(axis=1).argmax()  # the band around 1 kHz
    centres = mel_to_hz(np.linspace(0, hz_to_mel(SR // 2), 98))[1:-1]
    assert 800 < centres[peak] < 1250


def test_mel_filterbank_is_triangular_htk():
    fb = mel_filterbank(961, 96, SR)
    assert fb.shape == (961, 96) and fb.min() >= 0 and fb.max() <= 1.0
    assert (fb.sum(axis=0) > 0).all() and np.allclose(mel_to_hz(hz_to_mel([0.0, 1000.0, 11025.0])), [0, 1000, 11025])


def test_archive_to_features_labels_and_clip_ids(tmp_path):
    _, audio = write_audio_zip(tmp_path / "audio.zip")
    prepare_fsd50k(tmp_path, tmp_path, _args())
    with h5py.File(tmp_path / "fsd50k_features.h5") as f:
        xtr, ytr, ctr = f["x_train"][()], f["y_train"][()], f["clip_ids_train"][()]
        xte, yte, cte = f["x_test"][()], f["y_test"][()], f["clip_ids_test"][()]
    assert xtr.shape == (2, 1, 96, 102) and ytr.shape == (2, 4)  # one chunk per training clip
    assert ctr.tolist() == [101, 102] and ctr.dtype == np.int64
    assert ytr.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0]]
    assert xte.shape == (4, 1, 96, 102) and cte.tolist() == [201, 201, 201, 202]  # every test chunk, with its clip
    assert yte[3].tolist() == [1, 0, 0, 1]
    short = audio["202_0000.wav"]
    tiled = np.tile((short * 32767).astype(np.int16) / 32768.0, 2)[:SR].astype(np.float32)  # tiled to 1 s as load_audio
    np.testing.assert_allclose(xte[3, 0], log_mel(tiled, dict(FSD_DEFAULTS), mel_filterbank(961, 96, SR)), atol=1e-4)
    prepare_fsd50k(tmp_path, tmp_path, _args(out="again.h5"))  # seeded: the same chunks again
    with h5py.File(tmp_path / "again.h5") as f:
        np.testing.assert_array_equal(f["x_train"][()], xtr)
    prepare_fsd50k(tmp_path, tmp_path, _args(out="all.h5", train_chunks="all"))
    with h5py.File(tmp_path / "all.h5") as f:
        assert f["clip_ids_train"][()].tolist() == [101, 101, 101, 102, 102]


def test_bad_archive_contents_are_named(tmp_path):
    write_audio_zip(tmp_path / "audio.zip")
    with zipfile.ZipFile(tmp_path / "audio.zip", "a") as z:
        z.writestr("other/lbl_map.json", "{}")
    with pytest.raises(DataFormatError, match="2 members named 'lbl_map.json'"):
        prepare_fsd50k(tmp_path, tmp_path, _args())
    with pytest.raises(ValueError, match="train_chunks must be"):
        _args(train_chunks="some")


def test_fsd50k_task_file_prepares_and_loads_clip_ids(tmp_path):
    (tmp_path / "nb360" / "fsd50k").mkdir(parents=True)
    write_audio_zip(tmp_path / "nb360" / "fsd50k" / "audio.zip")
    task = load_task(REPO / "benchmarks/nb360/fsd50k.yaml")
    prepare_task(task, tmp_path)
    d = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    assert d.x_train.shape[1:] == tuple(task.spec["input"]["shape"]) and d.y_test.shape == (4, 4)
    extras = getattr(d, "extras", None)
    if extras is not None:  # the arrays loader carries per-sample side arrays (clip-level evaluation)
        assert extras["clip_ids_test"].tolist() == [201, 201, 201, 202]
