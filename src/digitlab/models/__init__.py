"""The model zoo. See ``registry.MODELS`` for what exists; ``create_model(name, **kw)`` builds one."""

from digitlab.models.registry import MODELS, ModelSpec, create_model, get_spec

__all__ = ["MODELS", "ModelSpec", "create_model", "get_spec"]
