"""arPLS baseline of a short profile, without a baseline library's per-call machinery.

A window's profile is a few hundred columns, and every read fits seven baselines
(three channels, four row bands) of about fifteen iterations each. A general
library (``pybaselines``, the reference this follows step for step) validates its
inputs and builds its penalty on every call and iteration, which cost more than the
solve itself; here the penalty is built once per length and each
iteration is one banded Cholesky solve and one reweighting.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg.lapack import dpbsv
from scipy.special import expit

_TINY = np.finfo(float).eps  # pybaselines' floor on a standard deviation and a norm


@lru_cache(maxsize=64)
def _penalty(n: int) -> np.ndarray:
    """``D'D`` for second differences, lower banded form (3, n), read-only.

    Row ``k`` holds the ``k``-th diagonal below the main one: the sum over the rows of
    ``D`` (coefficients 1, -2, 1) of the products of columns ``j`` and ``j + k``; small
    integers, so exact in any order.
    """
    coefficients = np.array([1.0, -2.0, 1.0])
    rows = np.arange(n - 2)
    bands = np.zeros((3, n))
    for k in range(3):
        for a in range(3 - k):
            np.add.at(bands[k], rows + a, coefficients[a] * coefficients[a + k])
    bands.setflags(write=False)
    return bands


def arpls(y: np.ndarray, lam: float, *, max_iter: int = 50, tol: float = 1e-3) -> np.ndarray:
    """Asymmetrically reweighted penalized least squares baseline (Baek et al. 2015).

    The same iteration as ``pybaselines.Baseline().arpls(y, lam)`` with its defaults
    (second differences, unit starting weights): a smooth curve that down-weights
    points standing above it by more than the noise below it.

    Parameters
    ----------
    y : ndarray, shape (N,)
        The profile, N >= 3.
    lam : float
        Smoothness (larger: stiffer).
    max_iter : int
        Iterations at most after the first fit.
    tol : float
        Stop when the weights change by less than this (relative L2 norm).

    Returns
    -------
    ndarray, shape (N,)
        The baseline.

    Examples
    --------
    >>> x = np.arange(100.0)
    >>> y = 0.01 * x + np.exp(-0.5 * ((x - 50) / 2) ** 2)   # a ramp and a peak on it
    >>> base = arpls(y, 1e4)
    >>> round(float(base[50]), 2), round(float(y[50] - base[50]), 2)
    (0.5, 1.0)
    """
    y = np.asarray(y, dtype=float)
    # Built once per length; the stiffness (a line width, photo by photo) scales it here.
    penalty = float(lam) * _penalty(y.size)
    weights = np.ones(y.size)
    baseline = y
    for _ in range(max_iter + 1):
        lhs = penalty.copy()
        lhs[0] += weights
        # LAPACK's banded Cholesky solve, as scipy's solveh_banded calls it, without its checks.
        _, baseline, info = dpbsv(lhs, weights * y, lower=1, overwrite_ab=1, overwrite_b=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"arPLS system not positive definite (info {info})")
        residual = y - baseline
        below = residual[residual < 0]
        if below.size < 2:
            break  # almost everything above the curve: keep the last fit
        # numpy's mean, std(ddof=1) and 2-norm, spelt out: the same sums in the same order,
        # without their per-call dispatch (a third of an iteration on a short profile).
        mean = np.add.reduce(below) / below.size
        dev = below - mean
        std = np.sqrt(np.add.reduce(dev * dev) / (below.size - 1))
        if std == 0:
            std = _TINY
        new = expit(-(2 / std) * (residual - (2 * std - mean)))
        step = new - weights
        change = np.sqrt(step.dot(step)) / max(np.sqrt(weights.dot(weights)), _TINY)
        if change < tol:
            break
        weights = new
    return np.asarray(baseline)
