"""The HTTP service: a FastAPI app serving a digit recognizer, and the drawing page at ``/``.

    from digitlab.serve import ServiceSettings, create_app
    app = create_app(ServiceSettings(model="default"))
"""

from digitlab.serve.app import create_app
from digitlab.serve.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
