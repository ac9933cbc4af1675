"""The arPLS baseline follows pybaselines' arPLS (its reference) to the last bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pipeline.bands.baseline import arpls

pybaselines = pytest.importorskip("pybaselines")


@pytest.mark.parametrize("seed", range(40))
def test_arpls_matches_pybaselines(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    x = np.arange(n)
    # A membrane with a staining gradient, noise and a few lines standing above it.
    y = 0.05 + 0.02 * np.sin(x / rng.uniform(10, 80))
    y += rng.uniform(0.0005, 0.01) * rng.standard_normal(n)
    for _ in range(int(rng.integers(0, 4))):
        at = int(rng.integers(0, n))
        y[at : at + 6] += rng.uniform(0.005, 0.3)
    lam = float(rng.uniform(1, 30)) ** 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its "converged too well" warning on a flat profile
        expected, _ = pybaselines.Baseline(x).arpls(y, lam=lam)
    np.testing.assert_array_equal(arpls(y, lam), expected)


def test_arpls_leaves_lines_out_and_follows_a_ramp() -> None:
    x = np.arange(200.0)
    ramp = 0.1 + 0.0005 * x
    y = ramp + 0.2 * np.exp(-0.5 * ((x - 80) / 2) ** 2)
    base = arpls(y, 8.0**4)
    assert np.abs(base - ramp).max() < 0.01
    assert y[80] - base[80] == pytest.approx(0.2, abs=0.01)
