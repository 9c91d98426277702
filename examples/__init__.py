"""Example catalogs, shipped as package data: `demo.yaml` drives `firebell demo` and is the
console's catalog when there is no `firebell.yaml`; `firebell.yaml` is a starting point to copy."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """The example file `name` on disk. Installed from a wheel or used from the source tree,
    package data is a plain file; a zipped install has none to hand to the catalog loader."""
    resource = files(__name__).joinpath(name)
    if not isinstance(resource, Path):
        raise FileNotFoundError(f"examples/{name} is not a file on disk ({resource!r})")
    return resource
