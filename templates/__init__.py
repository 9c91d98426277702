"""Firebell's words: the Jinja2 templates (`*.j2`) in this folder, shipped as package data and
read through `importlib.resources` (`workflows/render.py`), so a wheel install has them too."""
