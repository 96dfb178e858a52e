"""The HTTP service: a FastAPI app serving a digit recognizer, and the drawing page at ``/``.

    from digitlab.serve import ServiceSettings, create_app
    app = create_app(ServiceSettings(model="default"))
"""

from digitlab.utils.extras import require

require("fastapi", "serve", "the service (digitlab.serve)")  # a clear error naming the extra, before any import

from digitlab.serve.app import create_app  # noqa: E402
from digitlab.serve.settings import ServiceSettings  # noqa: E402

__all__ = ["ServiceSettings", "create_app"]
