"""The model registry, timm-style: ``@register_model`` beside each model class, ``create_model(name, **kw)``.

A model file registers its classes where they are defined::

    @register_model("lenet-lite", family="torch", description="small LeNet ...", default_recipe="seed-001")
    class LeNetLite(nn.Module): ...

and ``create_model("lenet-lite")`` builds one, ``get_spec`` describes it, ``list_models()`` names them all.

Why the model modules are imported lazily, from the list ``MODEL_MODULES`` below, rather than all at once:
a decorator registers a model only when its module is imported, and every module but ``scratch`` imports
torch (~1 s). So a lookup imports the module named by the model's first word (``mlp-512``: mlp.py), then,
if the name is still unknown, the modules in order, NumPy first, until it is registered: ``digitlab train
scratch`` (seed-004) and loading a NumPy model never import torch, loading a torch model imports only its own
module, and ``digitlab --help`` / ``digitlab predict`` (ONNX Runtime) import no model module at all. Only
listing every model (``list_models``, ``MODELS``, ``digitlab models``) or an unknown name imports them all.
A new model file goes into ``MODEL_MODULES``; tests/test_models_registry.py checks none is missed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from digitlab.errors import ModelError

FAMILIES = ("torch", "numpy")

# Every module that registers models, in the order a lookup imports them: the NumPy one first (no torch).
MODEL_MODULES = (
    "digitlab.models.scratch",
    "digitlab.models.mlp",
    "digitlab.models.lenet",
    "digitlab.models.cnn",
    "digitlab.models.digitnet",
    "digitlab.models.hybrid",
)

ModelClass = TypeVar("ModelClass", bound=type)


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model name.

    Attributes
    ----------
    name : str
        The registry name (``digitlab train NAME``, ``model.json``'s ``"model"``).
    cls : type
        The class ``create_model`` calls; several names may share one class with different ``defaults``.
    family : str
        ``"torch"`` (an ``nn.Module``) or ``"numpy"`` (no torch at all).
    description : str
        One line for ``digitlab models``.
    default_recipe : str
        The recipe a bare ``digitlab train NAME`` uses (see ``digitlab recipes``).
    defaults : dict
        Constructor arguments this name passes unless overridden; saved with the model.
    reproduces : str or None
        The seed id whose network this is, if any.
    published : str or None
        That seed's published figure.
    """

    name: str
    cls: type
    family: str
    description: str
    default_recipe: str
    defaults: dict[str, Any] = field(default_factory=dict)
    reproduces: str | None = None
    published: str | None = None


_SPECS: dict[str, ModelSpec] = {}
# Names in the order their decorators are written (within a module; list_models orders the modules). Stacked
# decorators are *applied* bottom to top, but their ``register_model(...)`` calls run top to bottom, so the name
# is placed here by the call, not by the decorator.
_ORDER: list[str] = []


def register_model(name: str, *, family: str, description: str, default_recipe: str,
                   defaults: dict[str, Any] | None = None, reproduces: str | None = None,
                   published: str | None = None) -> Callable[[ModelClass], ModelClass]:
    """Register the decorated class under ``name``; stack several to register variants of one class.

    Parameters
    ----------
    name : str
        Registry name; unique.
    family : {"torch", "numpy"}
        How the model runs: a torch ``nn.Module``, or NumPy only.
    description : str
        One line for ``digitlab models``.
    default_recipe : str
        The recipe a bare ``digitlab train NAME`` uses.
    defaults : dict, optional
        Constructor keyword arguments for this name (``create_model`` keywords override them).
    reproduces, published : str, optional
        The seed whose network this is, and its published figure.

    Returns
    -------
    Callable
        A class decorator that returns the class unchanged.

    Examples
    --------
    >>> from torch import nn                                              # doctest: +SKIP
    >>> @register_model("tiny", family="torch", description="one linear layer", default_recipe="cnn")
    ... class Tiny(nn.Module): ...                                        # doctest: +SKIP
    """
    if family not in FAMILIES:
        raise ValueError(f"model {name!r}: family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if name in _ORDER:
        raise ValueError(f"model {name!r} is registered twice")
    _ORDER.append(name)

    def decorate(cls: ModelClass) -> ModelClass:
        _SPECS[name] = ModelSpec(name=name, cls=cls, family=family, description=description,
                                 default_recipe=default_recipe, defaults=dict(defaults or {}),
                                 reproduces=reproduces, published=published)
        return cls

    return decorate


def _import_until(name: str | None) -> None:
    """Import model modules in ``MODEL_MODULES`` order until ``name`` is registered (all of them for None).

    The module named by the name's first word (``mlp-512``: mlp.py) is tried first: a shortcut, not a rule, so
    loading a torch model imports its own module only (the scan cost ~8 ms of CPU more, measured).
    """
    guess = f"digitlab.models.{name.split('-')[0]}" if name is not None else None
    if guess in MODEL_MODULES and name not in _SPECS:
        importlib.import_module(guess)
    for module in MODEL_MODULES:
        if name is not None and name in _SPECS:
            return
        importlib.import_module(module)


def list_models(family: str | None = None) -> list[str]:
    """Every registered model name, in the order ``digitlab models`` lists them (imports every model module).

    Parameters
    ----------
    family : {"torch", "numpy"}, optional
        Only the models of this family.

    Returns
    -------
    list of str

    Examples
    --------
    >>> list_models(family="numpy")
    ['scratch']
    >>> "cnn" in list_models()
    True
    """
    _import_until(None)
    names = [n for n in _ORDER if n in _SPECS and (family is None or _SPECS[n].family == family)]
    return sorted(names, key=_listing_position)


def _listing_position(name: str) -> tuple[int, int]:
    """Module order, then source order: the same listing whichever module something imported first."""
    module = _SPECS[name].cls.__module__
    rank = MODEL_MODULES.index(module) if module in MODEL_MODULES else len(MODEL_MODULES)  # others' last
    return rank, _ORDER.index(name)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``, importing only the model modules needed to find it.

    Parameters
    ----------
    name : str
        A registered model name (see ``digitlab models``).

    Returns
    -------
    ModelSpec

    Raises
    ------
    ModelError
        If no model of that name exists (the message lists those that do).

    Examples
    --------
    >>> spec = get_spec("scratch")       # imports digitlab.models.scratch only: no torch
    >>> spec.family, spec.default_recipe
    ('numpy', 'seed-004')
    """
    _import_until(name)
    try:
        return _SPECS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def model_class(name: str) -> type:
    """The class registered under ``name`` (e.g. to read a class attribute such as ``report_plots``)."""
    return get_spec(name).cls


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model; keyword arguments override the name's defaults.

    Parameters
    ----------
    name : str
        A registered model name (see ``digitlab models`` or ``list_models()``).
    **kwargs
        Constructor arguments, over the registered ``defaults`` (e.g. ``hidden=32`` for ``cnn``,
        ``num_classes=2`` for a class subset, ``backend="shots"`` for a hybrid model).

    Returns
    -------
    torch.nn.Module or ScratchNetwork
        A fresh, untrained model: an ``nn.Module`` for the torch family, a ``ScratchNetwork`` for ``scratch``.

    Raises
    ------
    ModelError
        For an unknown name or arguments the constructor does not take.

    Examples
    --------
    >>> import torch
    >>> model = create_model("cnn", hidden=32)
    >>> model(torch.zeros(8, 1, 28, 28)).shape
    torch.Size([8, 10])
    >>> create_model("scratch", seed=1).sizes                  # NumPy only
    [784, 30, 10]
    """
    spec = get_spec(name)
    try:
        return spec.cls(**{**spec.defaults, **kwargs})
    except TypeError as e:
        raise ModelError(f"bad arguments for model {name!r}: {e}") from None


def model_args(name: str, **kwargs: Any) -> dict[str, Any]:
    """The full constructor arguments of ``name`` (its defaults + ``kwargs``), JSON-ready (tuples as lists).

    Examples
    --------
    >>> model_args("scratch", cost="cross-entropy")
    {'sizes': [784, 30, 10], 'cost': 'cross-entropy'}
    """
    args = {**get_spec(name).defaults, **kwargs}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


class _AllModels(Mapping[str, ModelSpec]):
    """``MODELS``: a read-only name -> ModelSpec mapping; iterating it imports every model module."""

    def __getitem__(self, name: str) -> ModelSpec:
        _import_until(name)
        return _SPECS[name]  # KeyError, as a mapping should, once every module is imported

    def __iter__(self) -> Iterator[str]:
        return iter(list_models())

    def __len__(self) -> int:
        return len(list_models())


MODELS: Mapping[str, ModelSpec] = _AllModels()
