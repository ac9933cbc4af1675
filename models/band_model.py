"""The band model: line features in, probability that each line is present out.

A trained classifier exported to ONNX and run with onnxruntime, so reading a
photo needs neither scikit-learn nor the training code. The ONNX file carries
its own version and the feature names it was trained on; loading refuses a
model whose features are not the pipeline's current ``FEATURE_NAMES``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline.bands import FEATURE_NAMES


class BandModelError(ValueError):
    """The model file is missing, unreadable or does not match the pipeline's features."""


class BandModel:
    """A callable band classifier: ``model(features) -> p_present``.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        A session on a classifier with a float input ``(n, n_features)`` and a
        probability output ``(n, 2)`` (class 1 = line present).
    version : str
        Name and version, e.g. ``"band-classifier@1"``.

    Examples
    --------
    >>> from models.registry import current_band_model
    >>> model = current_band_model()
    >>> model.version.startswith("band-classifier@")
    True
    >>> p = model(np.zeros((2, len(FEATURE_NAMES)), np.float32))
    >>> p.shape, bool(((p >= 0) & (p <= 1)).all())
    ((2,), True)
    """

    def __init__(self, session: ort.InferenceSession, version: str) -> None:
        self._session = session
        self.version = version
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise BandModelError("a band model has exactly one input")
        self._input = inputs[0].name
        self._n_features = inputs[0].shape[-1]
        names = [o.name for o in session.get_outputs()]
        self._output = "probabilities" if "probabilities" in names else names[-1]

    @classmethod
    def from_file(cls, path: str | Path, version: str | None = None) -> BandModel:
        """Load an ONNX band model.

        Parameters
        ----------
        path : str or Path
        version : str, optional
            Overrides the version stored in the model's metadata.

        Raises
        ------
        BandModelError
            When the file cannot be loaded or was trained on other features.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BandModelError(f"band model could not be loaded: {path}: {exc}") from None
        return cls.from_bytes(data, version=version, name=path.name, fallback=path.stem)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        version: str | None = None,
        *,
        name: str = "band model",
        fallback: str = "band-model",
    ) -> BandModel:
        """Load an ONNX band model from its bytes (a registry stores them in its database).

        Parameters
        ----------
        data : bytes
            The ONNX file's content.
        version : str, optional
            Overrides the version stored in the model's metadata.
        name : str
            What error messages call the model.
        fallback : str
            The version when neither ``version`` nor the metadata gives one.

        Raises
        ------
        BandModelError
            When the bytes are not a loadable model or it was trained on other features.

        Examples
        --------
        >>> BandModel.from_bytes(b"not onnx")
        Traceback (most recent call last):
        ...
        models.band_model.BandModelError: band model could not be loaded: band model
        """
        options = ort.SessionOptions()
        # One thread: readings run many at a time; threads would only contend.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # onnxruntime raises its own, untyped, errors
            raise BandModelError(f"band model could not be loaded: {name}") from None
        meta = session.get_modelmeta().custom_metadata_map
        features = meta.get("features")
        if features is not None and tuple(features.split(",")) != FEATURE_NAMES:
            raise BandModelError(
                f"band model {name} was trained on other features than the pipeline's"
            )
        return cls(session, version or meta.get("version") or fallback)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Probability that each line (row of ``features``) is present.

        Parameters
        ----------
        features : ndarray
            ``(n_lines, len(FEATURE_NAMES))`` from ``pipeline.bands.line_features``.

        Returns
        -------
        ndarray
            ``(n_lines,)`` float64 in ``[0, 1]``.
        """
        x = np.ascontiguousarray(np.atleast_2d(features), dtype=np.float32)
        if isinstance(self._n_features, int) and x.shape[1] != self._n_features:
            raise BandModelError(f"expected {self._n_features} features, got {x.shape[1]}")
        if x.shape[0] == 0:
            return np.zeros(0)
        # Non-finite features (a degenerate window) must not turn into a confident call.
        x = np.nan_to_num(x, nan=0.0, posinf=1e6, neginf=-1e6)
        (proba,) = self._session.run([self._output], {self._input: x})
        return np.clip(np.asarray(proba, dtype=np.float64)[:, 1], 0.0, 1.0)

    def __repr__(self) -> str:
        return f"BandModel({self.version!r})"
