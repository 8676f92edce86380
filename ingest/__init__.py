"""Loaders for the evidence streams of a landing folder, one module per stream."""
