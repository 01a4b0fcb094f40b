"""Factorization Machine recommender: train, evaluate, recommend and serve."""

__version__ = "0.1.0"
