"""Memorization capacity: explicit memorizing networks, width-vs-N laws, and generalization–memorization machines.

Estimators follow scikit-learn's contract (``fit``, ``predict``, ``get_params``); import them from
their modules (``memlens.capacity.<module>``).
"""
