"""Hashing models: the image model, the image-text model, their backbones and losses."""
