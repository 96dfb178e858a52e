"""The model zoo: one small file per family, each class registered beside it with ``@register_model``.

``create_model(name, **kw)`` builds one, ``list_models()`` names them all, ``get_spec(name)`` describes one.
Importing this package imports no model module (so no torch); see registry.py for why and how.
"""

from digitlab.models.registry import (
    MODELS,
    ModelSpec,
    create_model,
    get_spec,
    list_models,
    model_args,
    register_model,
)

__all__ = ["MODELS", "ModelSpec", "create_model", "get_spec", "list_models", "model_args", "register_model"]
