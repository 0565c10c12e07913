"""Shared infrastructure for every entry point: tracking, data, preprocessing, metrics, packaging.

Nothing here runs on import; training-framework code stays in `entrypoints/`.
"""
