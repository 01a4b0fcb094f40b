"""HTTP service: a JSON API and a web page over a saved recommender.

Needs the ``serve`` extra (``pip install 'fmrec[serve]'``). Start it with
``fmrec serve --model FILE`` or build the application with :func:`create_app`.
"""

from fmrec.service.app import create_app
from fmrec.service.holder import ModelHolder, ServedModel, install_reload_signal

__all__ = ["ModelHolder", "ServedModel", "create_app", "install_reload_signal"]
