"""Altered copies of an ONNX band model, to check that the promotion gate works.

A gate that has never refused anything is not known to work. These copies
are the controls of that experiment:

- :func:`weaken_evidence` makes a model that is deliberately worse: it sees
  every line fainter than it is, and misses faint lines with confidence;
- :func:`relabel` makes a copy that reads exactly like the original under
  another version (another file hash): the promotion of an equal model.

Both keep the input, the outputs and the metadata the runtime checks
(``features``), so :class:`models.band_model.BandModel` loads them.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from pipeline.bands import FEATURE_NAMES
from training.train import MONOTONE


def _set_version(model: onnx.ModelProto, version: str) -> None:
    for prop in model.metadata_props:
        if prop.key == "version":
            prop.value = version
            return
    prop = model.metadata_props.add()
    prop.key, prop.value = "version", version


def relabel(onnx_bytes: bytes, version: str) -> bytes:
    """The same model under another version (its outputs are unchanged).

    Examples
    --------
    >>> from pathlib import Path
    >>> from models.band_model import BandModel
    >>> data = Path("models/band-classifier@1.onnx").read_bytes()
    >>> BandModel.from_bytes(relabel(data, "band-classifier@99")).version
    'band-classifier@99'
    """
    model = onnx.load_from_string(onnx_bytes)
    _set_version(model, version)
    return bytes(model.SerializeToString())


def weaken_evidence(onnx_bytes: bytes, factor: float, version: str) -> bytes:
    """A copy that sees every line fainter than it is: the evidence features times ``factor``.

    The line-evidence features (``od``, ``snr``, ``snr_anchor``, ``band_min_snr``:
    those the band model is monotone in) are multiplied by ``factor`` before the
    model sees them, as a camera whose tone curve flattens contrast would make
    them. With ``factor`` < 1 faint lines are missed, and confidently, because
    the model is sure of what it sees; strong lines are still found.

    Parameters
    ----------
    onnx_bytes : bytes
        A band model with one float input ``(n, len(FEATURE_NAMES))``.
    factor : float
        Scale of the evidence features (1 changes nothing).
    version : str
        The copy's version.

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from models.band_model import BandModel
    >>> from pipeline.bands import FEATURE_NAMES
    >>> data = Path("models/band-classifier@1.onnx").read_bytes()
    >>> x = np.zeros((4, len(FEATURE_NAMES)), np.float32)
    >>> x[:, 0] = [0.0, 0.02, 0.05, 0.3]  # optical density
    >>> x[:, 1] = [0.0, 8.0, 20.0, 100.0]  # signal to noise
    >>> p = BandModel.from_bytes(data)(x)
    >>> q = BandModel.from_bytes(weaken_evidence(data, 0.3, "worse@1"))(x)
    >>> bool(np.all(q <= p + 1e-6))
    True
    """
    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    if len(graph.input) != 1:
        raise ValueError("a band model has exactly one input")
    name = graph.input[0].name
    scaled = f"{name}_weakened"
    # Every node that read the input now reads the scaled input.
    for node in graph.node:
        node.input[:] = [scaled if value == name else value for value in node.input]
    scale = [factor if feature in MONOTONE else 1.0 for feature in FEATURE_NAMES]
    graph.initializer.append(
        helper.make_tensor("evidence_scale", TensorProto.FLOAT, [len(scale)], scale)
    )
    graph.node.insert(0, helper.make_node("Mul", [name, "evidence_scale"], [scaled]))
    model.doc_string = f"{version}: line evidence scaled by {factor:g} ({model.doc_string})"
    _set_version(model, version)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
