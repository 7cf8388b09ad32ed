"""The living green layer: species library, growth, phenology, plant meshes, services.

The public API is re-exported here from :mod:`greentwin.green_model.api`.
"""

from greentwin.green_model import api as _api
from greentwin.green_model.api import *  # noqa: F403  (the names of api.__all__)

__all__ = list(_api.__all__)
