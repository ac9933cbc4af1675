"""The model-free default band model: a calibrated logistic rule on two features."""

from __future__ import annotations

import numpy as np

from pipeline.bands.features import FEATURE_NAMES

# Logistic default on (weakest row band's SNR, OD in hundredths), fitted on
# synthetic training windows (absent lines weighted 5:1, half with a residual
# tint up to OD 0.006) from models.train.
_RULE_COEF = (0.933, 10.095)
_RULE_INTERCEPT = -13.555


def band_probability(features: np.ndarray) -> np.ndarray:
    """Model-free probability that each line is present: a calibrated logistic rule.

    ``p = sigmoid(-13.555 + 0.933 * band_min_snr + 10.095 * 100 * od)``, with
    the weakest row band's SNR clipped to [-5, 10] and OD to [-0.05, 0.05]:
    a line must have optical density *and* be seen across the whole width of
    the window (ghost marks and specks are partial). Monotone in both. It is
    the pipeline's default and the baseline a trained band model must beat.

    Parameters
    ----------
    features : ndarray
        Rows from :func:`line_features`.

    Returns
    -------
    ndarray
        One probability per row, in ``[0, 1]``.

    Examples
    --------
    >>> f = np.zeros((3, len(FEATURE_NAMES)), np.float32)
    >>> f[:, FEATURE_NAMES.index("od")] = [0.003, 0.012, 0.3]
    >>> f[:, FEATURE_NAMES.index("band_min_snr")] = [1.0, 2.0, 40.0]
    >>> band_probability(f).round(3).tolist()
    [0.0, 0.605, 1.0]
    """
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    band = np.clip(np.nan_to_num(f[:, FEATURE_NAMES.index("band_min_snr")]), -5.0, 10.0)
    od = np.clip(np.nan_to_num(f[:, FEATURE_NAMES.index("od")]), -0.05, 0.05) * 100
    z = _RULE_INTERCEPT + _RULE_COEF[0] * band + _RULE_COEF[1] * od
    return np.asarray(1.0 / (1.0 + np.exp(-z)))
