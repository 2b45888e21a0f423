"""Generated PDE data in PDEBench's on-disk layout, for an offline PDE row.

1D linear advection ``u_t + beta u_x = 0`` on the periodic unit interval. Initial conditions are
random smooth periodic functions, sums of a few sine waves with integer wavenumbers (the family
PDEBench draws its advection initial conditions from), so the exact solution is the shifted
initial condition ``u(x, t) = u0(x - beta t)``, evaluated in closed form. A first-order upwind
finite-volume scheme is provided as an alternative (``method: upwind``); the tests check it
against the exact solution.

The file written by :func:`write_pdebench_1d` has PDEBench's 1D layout (as in
``1D_Advection_Sols_beta0.4.hdf5``): dataset ``tensor`` (N, T, X) float32, ``x-coordinate`` (X,)
cell centres, ``t-coordinate`` (T + 1,) (PDEBench stores one more time stamp than steps), plus
file attributes naming the generator and its settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output

GENERATORS = ("advection1d",)
DEFAULT_ADVECTION = {"pde": "advection1d", "n_samples": 320, "nx": 128, "nt": 41, "t_final": 2.0,
                     "beta": 0.4, "seed": 0, "n_waves": 2, "k_max": 4, "method": "exact"}


def grid_1d(nx: int) -> np.ndarray:
    """Cell centres of nx uniform cells on [0, 1)."""
    return (np.arange(nx) + 0.5) / nx


def random_sine_params(n: int, rng: np.random.Generator, n_waves: int = 2, k_max: int = 4) -> dict:
    """Amplitudes in [0, 1), integer wavenumbers in [1, k_max], phases in [0, 2 pi)."""
    return {"amp": rng.uniform(0.0, 1.0, (n, n_waves)),
            "k": rng.integers(1, k_max + 1, (n, n_waves)),
            "phase": rng.uniform(0.0, 2 * np.pi, (n, n_waves))}


def sine_sum(params: dict, x: np.ndarray) -> np.ndarray:
    """Evaluate sum_j amp_j sin(2 pi k_j x + phase_j) at x: params (n, J), x (..., X) -> (n, X)."""
    arg = 2 * np.pi * params["k"][:, :, None] * x[None, None, :] + params["phase"][:, :, None]
    return np.sum(params["amp"][:, :, None] * np.sin(arg), axis=1)


def advection_exact(params: dict, x: np.ndarray, t: np.ndarray, beta: float) -> np.ndarray:
    """Exact periodic solution u(x, t) = u0(x - beta t): (n, len(t), len(x))."""
    return np.stack([sine_sum(params, np.mod(x - beta * ti, 1.0)) for ti in t], axis=1)


def advection_upwind(u0: np.ndarray, beta: float, dx: float, t: np.ndarray, cfl: float = 0.4) -> np.ndarray:
    """First-order upwind finite volumes for u_t + beta u_x = 0 (periodic), sampled at times t.

    u0: (n, X) cell averages; t: increasing save times starting at 0. Each interval between save
    times is split into equal steps with |beta| dt / dx <= cfl. Returns (n, len(t), X).
    """
    u = np.array(u0, dtype=np.float64)
    out = np.empty((u.shape[0], len(t), u.shape[1]))
    out[:, 0] = u
    for i in range(1, len(t)):
        span = t[i] - t[i - 1]
        steps = max(1, int(np.ceil(abs(beta) * span / (cfl * dx))))
        c = beta * (span / steps) / dx
        for _ in range(steps):
            if beta >= 0:
                u = u - c * (u - np.roll(u, 1, axis=-1))
            else:
                u = u - c * (np.roll(u, -1, axis=-1) - u)
        out[:, i] = u
    return out


def write_pdebench_1d(path: str | Path, tensor: np.ndarray, x: np.ndarray, t: np.ndarray,
                      attrs: dict | None = None) -> Path:
    """Write (N, T, X) data in PDEBench's 1D layout, atomically (tmp file + rename).

    ``t`` holds the T save times; ``t-coordinate`` gets T + 1 stamps (one step past the end),
    matching the released PDEBench files.
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    t_coord = np.append(t, t[-1] + dt).astype(np.float32)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("tensor", data=np.asarray(tensor, dtype=np.float32))
        f.create_dataset("x-coordinate", data=np.asarray(x, dtype=np.float32))
        f.create_dataset("t-coordinate", data=t_coord)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return path


def generate_advection1d(path: str | Path, **settings) -> Path:
    """Generate a 1D advection data set (settings: see DEFAULT_ADVECTION) and write it to ``path``."""
    unknown = set(settings) - set(DEFAULT_ADVECTION)
    if unknown:
        raise ValueError(f"advection1d generator: unknown settings {sorted(unknown)}; "
                         f"allowed: {sorted(DEFAULT_ADVECTION)}")
    s = {**DEFAULT_ADVECTION, **settings}
    if s["method"] not in ("exact", "upwind"):
        raise ValueError(f"advection1d generator: method must be 'exact' or 'upwind', got {s['method']!r}")
    if int(s["nt"]) < 2 or int(s["nx"]) < 4 or int(s["n_samples"]) < 1:
        raise ValueError("advection1d generator: need nt >= 2, nx >= 4, n_samples >= 1")
    rng = np.random.default_rng(int(s["seed"]))
    x = grid_1d(int(s["nx"]))
    t = np.linspace(0.0, float(s["t_final"]), int(s["nt"]))
    params = random_sine_params(int(s["n_samples"]), rng, int(s["n_waves"]), int(s["k_max"]))
    if s["method"] == "exact":
        u = advection_exact(params, x, t, float(s["beta"]))
    else:
        u = advection_upwind(sine_sum(params, x), float(s["beta"]), 1.0 / int(s["nx"]), t)
    attrs = {"generator": "orca.data.preparation.pde_generate.advection1d",
             **{k: (str(v) if isinstance(v, str) else v) for k, v in s.items()}}
    return write_pdebench_1d(path, u, x, t, attrs)


def generate(path: str | Path, settings: dict) -> Path:
    """Dispatch on ``settings['pde']`` (one of GENERATORS)."""
    settings = dict(settings)
    pde = settings.get("pde", "advection1d")
    if pde == "advection1d":
        return generate_advection1d(path, **settings)
    raise ValueError(f"unknown PDE generator {pde!r}; allowed: {', '.join(GENERATORS)}")
