"""Data-side mitigations re-measured on the same examples, and the one-run privacy audit.

* :mod:`~memlens.mitigations.removal` — remove or down-weight the most memorized examples of a
  previous run (or random ones, the control);
* :mod:`~memlens.mitigations.dedup` — exact and near-duplicate removal;
* :mod:`~memlens.mitigations.one_run` — the ε lower bound of a ``one-run:M`` design;
* :mod:`~memlens.mitigations.cli_options` — the ``memlens audit`` flags, as one call.

Removed examples are excluded by the design (:meth:`memlens.design.Design.excluding`); early
stopping and loss weights are options of :class:`memlens.train.Ensemble`.
"""
