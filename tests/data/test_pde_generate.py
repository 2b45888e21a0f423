import h5py
import numpy as np
import pytest

from orca.data.preparation.pde_generate import (advection_exact, advection_upwind, generate, generate_advection1d, grid_1d,
                                    random_sine_params, sine_sum)


def fourier_shift(u, s):
    """u(x - s) on the periodic unit grid, exact for band-limited u."""
    k = np.fft.rfftfreq(u.shape[-1], d=1.0 / u.shape[-1])
    return np.fft.irfft(np.fft.rfft(u, axis=-1) * np.exp(-2j * np.pi * k * s), n=u.shape[-1], axis=-1)


def test_exact_solution_is_a_periodic_shift():
    rng = np.random.default_rng(1)
    p = random_sine_params(3, rng, n_waves=2, k_max=4)
    x = grid_1d(64)
    beta = 0.4
    t = np.array([0.0, 0.5, 2.5])  # 2.5 * 0.4 = 1.0: a full period, back to u0
    u = advection_exact(p, x, t, beta)
    np.testing.assert_allclose(u[:, 0], sine_sum(p, x))
    np.testing.assert_allclose(u[:, 2], u[:, 0], atol=1e-12)
    # satisfies u_t + beta u_x = 0: check with the analytic derivatives of a single wave
    amp, k, ph = p["amp"][0], p["k"][0], p["phase"][0]
    arg = 2 * np.pi * k[:, None] * (x[None] - beta * 0.5) + ph[:, None]
    u_x = np.sum(amp[:, None] * 2 * np.pi * k[:, None] * np.cos(arg), axis=0)
    u_t = -beta * u_x
    np.testing.assert_allclose(u_t + beta * u_x, 0.0, atol=1e-12)
    np.testing.assert_allclose(u[0, 1], np.sum(amp[:, None] * np.sin(arg), axis=0), atol=1e-12)


def test_upwind_converges_to_exact():
    rng = np.random.default_rng(0)
    p = random_sine_params(2, rng, n_waves=1, k_max=1)
    t = np.linspace(0, 0.5, 3)
    errs = []
    for nx in (64, 256):
        x = grid_1d(nx)
        num = advection_upwind(sine_sum(p, x), 1.0, 1.0 / nx, t)
        ex = advection_exact(p, x, t, 1.0)
        errs.append(np.abs(num[:, -1] - ex[:, -1]).max() / np.abs(ex[:, -1]).max())
    assert errs[1] < 0.15 and errs[1] < errs[0] / 2.5  # first order: ~4x smaller for 4x finer


def test_upwind_negative_speed():
    x = grid_1d(400)
    p = {"amp": np.array([[1.0]]), "k": np.array([[1]]), "phase": np.array([[0.0]])}
    t = np.array([0.0, 0.25])
    num = advection_upwind(sine_sum(p, x), -1.0, 1 / 400, t)
    ex = advection_exact(p, x, t, -1.0)
    assert np.abs(num - ex).max() < 0.05


def test_written_file_has_pdebench_layout(tmp_path):
    path = generate_advection1d(tmp_path / "adv.hdf5", n_samples=5, nx=32, nt=11, t_final=1.0, beta=0.4, seed=3)
    with h5py.File(path) as f:
        assert sorted(f.keys()) == ["t-coordinate", "tensor", "x-coordinate"]
        assert f["tensor"].shape == (5, 11, 32) and f["tensor"].dtype == np.float32
        assert f["x-coordinate"].shape == (32,) and f["t-coordinate"].shape == (12,)
        np.testing.assert_allclose(f["t-coordinate"][:11], np.linspace(0, 1, 11), atol=1e-6)
        assert f.attrs["beta"] == 0.4
        u = f["tensor"][()]
        x = f["x-coordinate"][()]
    # the last frame is the first one shifted by beta * t_final = 0.4 (periodic)
    np.testing.assert_allclose(u[:, -1], fourier_shift(u[:, 0], 0.4), atol=1e-5)
    assert x[0] == pytest.approx(0.5 / 32)


def test_deterministic_and_upwind_method(tmp_path):
    a = generate(tmp_path / "a.h5", {"n_samples": 4, "nx": 16, "nt": 3, "seed": 7})
    b = generate(tmp_path / "b.h5", {"n_samples": 4, "nx": 16, "nt": 3, "seed": 7})
    with h5py.File(a) as fa, h5py.File(b) as fb:
        np.testing.assert_array_equal(fa["tensor"][()], fb["tensor"][()])
    c = generate(tmp_path / "c.h5", {"n_samples": 2, "nx": 64, "nt": 3, "method": "upwind", "k_max": 1})
    with h5py.File(c) as f:
        assert f["tensor"].shape == (2, 3, 64) and f.attrs["method"] == "upwind"


def test_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown settings"):
        generate(tmp_path / "x.h5", {"nu": 1})
    with pytest.raises(ValueError, match="unknown PDE generator"):
        generate(tmp_path / "x.h5", {"pde": "burgers"})
    with pytest.raises(ValueError, match="method"):
        generate(tmp_path / "x.h5", {"method": "spectral"})
