"""Which band model the pipeline uses, and when a new one may replace it.

``models/registry.json`` lists every trained model (version, ONNX file, its
SHA-256, held-out metrics, when and how it was made) and names the
``current`` one. Training only registers a candidate; it becomes current
through :func:`make_current`, which ``python -m training.evaluate --promote``
calls only when the safety rule of :mod:`models.promotion` accepts it against
the current model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from models.band_model import BandModel, BandModelError
from pipeline.bands import band_probability

MODELS_DIR = Path(__file__).resolve().parent
REGISTRY_PATH = MODELS_DIR / "registry.json"
DEFAULT_VERSION = "od-logistic@1"


class RuleBandModel:
    """The model-free default (:func:`pipeline.bands.band_probability`) with a version.

    Examples
    --------
    >>> from pipeline.bands import FEATURE_NAMES
    >>> RuleBandModel()(np.zeros((1, len(FEATURE_NAMES)))).shape
    (1,)
    """

    version = DEFAULT_VERSION

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return band_probability(features)


def load_registry(path: str | Path = REGISTRY_PATH) -> dict[str, Any]:
    """The registry document; an empty one when the file does not exist.

    Examples
    --------
    >>> sorted(load_registry())
    ['current', 'models']
    """
    path = Path(path)
    if not path.exists():
        return {"current": None, "models": []}
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.setdefault("current", None)
    doc.setdefault("models", [])
    return dict(doc)


def save_registry(doc: Mapping[str, Any], path: str | Path = REGISTRY_PATH) -> None:
    """Write the registry (stable key order, so diffs stay readable)."""
    Path(path).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def entry(doc: Mapping[str, Any], version: str) -> dict[str, Any] | None:
    """The registry entry of ``version``, or None."""
    for item in doc.get("models", []):
        if item.get("version") == version:
            return dict(item)
    return None


def shipped_files(path: str | Path = REGISTRY_PATH) -> dict[str, str]:
    """Each shipped version's label and its file's SHA-256, from the registry document.

    A server's own registry must not give one of these labels to another file: readings
    name the model that made them by label alone.

    Examples
    --------
    >>> shipped_files()["band-classifier@1"][:8]
    '9d29761e'
    """
    return {
        str(item["version"]): str(item.get("sha256", ""))
        for item in load_registry(path)["models"]
        if item.get("version")
    }


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def band_model(version: str, path: str | Path = REGISTRY_PATH) -> BandModel:
    """Load a registered model by version, checking its file's hash.

    Raises
    ------
    BandModelError
        When the version is unknown or the file differs from what was registered.
    """
    path = Path(path)
    item = entry(load_registry(path), version)
    if item is None:
        raise BandModelError(f"no band model {version!r} in {path}")
    file = path.parent / item["file"]
    if not file.exists():
        raise BandModelError(f"band model file missing: {file}")
    if item.get("sha256") and sha256(file) != item["sha256"]:
        raise BandModelError(f"band model file {file.name} does not match its registry hash")
    return BandModel.from_file(file, version=version)


@lru_cache(maxsize=4)
def _current(path: str) -> BandModel | RuleBandModel:
    version = load_registry(path).get("current")
    if not version:
        return RuleBandModel()
    return band_model(version, path)


def current_band_model(path: str | Path = REGISTRY_PATH) -> BandModel | RuleBandModel:
    """The promoted band model (loaded once per process).

    Falls back to the model-free :class:`RuleBandModel` when nothing has been
    promoted yet.

    Examples
    --------
    >>> model = current_band_model()
    >>> isinstance(model.version, str)
    True
    """
    return _current(str(Path(path).resolve()))


def runtime_band_model(champion: BandModel | None = None) -> BandModel | RuleBandModel:
    """The model a live reading uses: the database's champion, else the shipped one.

    The server's registry (``api.model_registry``) names the champion; a fresh
    installation has none yet, and then the model this file's registry ships as
    ``current`` reads (so every stored reading still names a version).

    Examples
    --------
    >>> runtime_band_model(None).version == current_band_model().version
    True
    """
    return champion if champion is not None else current_band_model()


def make_current(version: str, path: str | Path = REGISTRY_PATH) -> None:
    """Name a registered model the current one.

    Only the promotion rule's caller (``training.evaluate --promote``) should
    use this, after :func:`models.promotion.decide` has accepted the model.

    Raises
    ------
    KeyError
        ``version`` is not in the registry (train and register it first).

    Examples
    --------
    >>> import shutil, tempfile
    >>> tmp = Path(tempfile.mkdtemp()) / "registry.json"
    >>> _ = shutil.copy(REGISTRY_PATH, tmp)
    >>> make_current("band-classifier@1", tmp)
    >>> load_registry(tmp)["current"]
    'band-classifier@1'
    """
    doc = load_registry(path)
    if entry(doc, version) is None:
        raise KeyError(f"{version!r} is not registered in {path}")
    save_registry({**doc, "current": version}, path)
