"""Trained models of Vigil's reader and the registry that says which one is used.

- :mod:`models.band_model`: ``BandModel``, an ONNX line classifier (features -> p_present).
- :mod:`models.registry`: ``registry.json``, ``current_band_model()``, ``promote()``.
- :mod:`models.train`: ``python -m models.train --seed 0 --out models/`` trains, evaluates,
  exports and registers a band classifier on synthetic photos of random kit designs.
"""
