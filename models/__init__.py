"""Trained models of Vigil's reader and the registry that says which one is used.

- :mod:`models.band_model`: ``BandModel``, an ONNX line classifier (features -> p_present).
- :mod:`models.registry`: ``registry.json``, ``current_band_model()``, ``make_current()``.
- :mod:`models.promotion`: the safety rule a candidate must pass to replace the champion
  (pure; used by the database registry ``api.model_registry``).

Training lives in the top-level :mod:`training` package (``python -m training.train``): it
renders synthetic photos with :mod:`datasets`, which this runtime package never imports.
"""
