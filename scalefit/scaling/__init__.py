"""Compute-optimal analysis from finished runs: loss laws of model size and data, isoFLOP profiles, the lower
envelope of training curves, scale-up predictions, and the hyperparameter laws' fit.

Modules (each imports its siblings directly; this package file imports nothing, so ``scalefit --help`` stays
fast). The design and the measurements behind each choice: ``docs/scaling_laws.md``.

* :mod:`~scalefit.scaling.registry`: the loss laws by name, and the default one.
* :mod:`~scalefit.scaling.solve`: the Huber-on-log-loss search every loss-law fit uses.
* :mod:`~scalefit.scaling.fit` and :mod:`~scalefit.scaling.result`: ``fit_scaling`` and its :class:`ScalingFit`
  (Hoffmann et al.'s approach 3); :mod:`~scalefit.scaling.diagnostics` says when the data cannot pin the law;
  :mod:`~scalefit.scaling.extrapolation` measures the law's own error beyond the data;
  :mod:`~scalefit.scaling.compare_laws` fits every law to the same runs.
* :mod:`~scalefit.scaling.isoflop` (approach 2) and :mod:`~scalefit.scaling.envelope` (approach 1);
  :mod:`~scalefit.scaling.approaches` puts the three side by side; :mod:`~scalefit.scaling.plots` draws them.
* :mod:`~scalefit.scaling.predict` (loss of new runs with intervals) and :mod:`~scalefit.scaling.holdout`
  (leave-the-largest-size-out error of a law).
* :mod:`~scalefit.scaling.hparams` and :mod:`~scalefit.scaling.hparam_cells`: the optimal-LR and batch-size laws'
  fit (the laws themselves are in :mod:`scalefit.laws.hyperparams`).
"""
