"""Training of Vigil's models, kept out of the runtime ``models`` package.

Training renders synthetic photos (:mod:`datasets`), computes the pipeline's own
features (:mod:`pipeline`) and writes models into the registry (:mod:`models`);
the server only ever loads what it wrote, so ``models`` never imports
``datasets``.

- :mod:`training.train`: ``python -m training.train --seed 0`` trains, evaluates,
  exports and registers a band classifier on synthetic photos of random kit designs.
"""
