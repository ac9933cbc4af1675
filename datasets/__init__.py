"""Synthetic data for Vigil: random kit designs, rendered phone photos, labelled photo sets.

- :mod:`datasets.kits`: ``random_kit``, ``benchmark_kits`` (held-out designs), ``write_kit``.
- :mod:`datasets.render`: ``render_photo`` -> ``RenderedPhoto`` (image, JPEG, truth, homography);
  a package of one idea per module (scene, face, membrane, codes, camera, optics, ...).
- :mod:`datasets.generate`: ``generate`` writes photos + ``labels.jsonl``; ``main`` is the CLI.
"""
