"""Shared infrastructure for every entry point: tracking, data, preprocessing, metrics, packaging.

Nothing here runs on import. Model families live in ``trainers/``; the servable model
(``pyfunc``) is the one module here that reads their registry, to load an estimator by its
trainer's name.
"""
