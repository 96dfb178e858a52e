"""The model registry: @register_model beside each class, lazy lookups (no torch on the NumPy path), create_model."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from digitlab.errors import ModelError
from digitlab.models import registry
from digitlab.models.registry import MODEL_MODULES, MODELS, create_model, get_spec, list_models, model_args

MODELS_DIR = Path(registry.__file__).parent

# `digitlab models` lists these, in this order (before and after the registry became decorators).
LISTED = ["scratch", "mlp-312", "mlp-bp", "mlp-512", "lenet-lite", "cnn", "digitnet", "hybrid-qnn",
          "hybrid-qnn-classical", "hybrid-qnn10", "hybrid-qnn10-classical"]


def run_python(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_numpy_path_never_imports_torch(tmp_path):
    # What `digitlab train scratch` (seed-004) and loading a saved NumPy model do with the registry.
    run_python(f"""
        import sys
        import numpy as np
        from digitlab.inference.classifier import load_classifier, wrap
        from digitlab.inference.normalization import Normalization
        from digitlab.models.registry import create_model, get_spec, model_args, model_class
        from digitlab.training.recipes import default_recipe

        assert get_spec("scratch").family == "numpy" and default_recipe("scratch").name == "seed-004"
        model_class("scratch")
        original = wrap(create_model("scratch", seed=3), "scratch", model_args("scratch", seed=3),
                        tuple("0123456789"), Normalization.named("none").to_json())
        original.save({str(tmp_path / "m")!r})
        loaded = load_classifier({str(tmp_path / "m")!r})
        images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
        assert np.array_equal(loaded.predict_proba(images), original.predict_proba(images))
        assert "torch" not in sys.modules, "torch imported"
    """)


def test_a_lookup_imports_only_the_models_own_module():
    run_python("""
        import sys
        from digitlab.models.registry import MODEL_MODULES, get_spec

        for name, module in (("cnn", "cnn"), ("lenet-lite", "lenet"), ("mlp-bp", "mlp")):
            get_spec(name)
            assert f"digitlab.models.{module}" in sys.modules
        others = set(MODEL_MODULES) - {"digitlab.models.cnn", "digitlab.models.lenet", "digitlab.models.mlp"}
        assert not others & set(sys.modules) and "digitlab.quantum" not in sys.modules, others & set(sys.modules)
    """)


def test_the_listing_does_not_depend_on_which_model_module_was_imported_first():
    run_python(f"""
        import digitlab.models.hybrid, digitlab.models.cnn  # a test or a script may import one directly
        from digitlab.models.registry import list_models

        assert list_models() == {LISTED!r}, list_models()
    """)


def test_loading_a_torch_model_imports_no_extra_package():
    # A torch model's lookup passes the NumPy module first: that must cost no package the load lacked before.
    run_python("""
        import sys
        import torch.nn
        from digitlab.models.registry import get_spec

        before = {m.split(".")[0] for m in sys.modules}
        get_spec("digitnet")
        assert {m.split(".")[0] for m in sys.modules} == before, {m.split(".")[0] for m in sys.modules} - before
    """)


def test_every_file_that_registers_a_model_is_in_the_lookup_list():
    registering = {f"digitlab.models.{p.stem}" for p in MODELS_DIR.glob("*.py")
                   if re.search(r"^@register_model\(", p.read_text(), re.MULTILINE)}
    assert registering == set(MODEL_MODULES)
    assert MODEL_MODULES[0] == "digitlab.models.scratch"  # NumPy first: a scratch lookup stops before torch


def test_listing_order_and_specs():
    assert list_models() == LISTED == list(MODELS)
    assert list_models(family="numpy") == ["scratch"]
    assert len(MODELS) == len(LISTED) and "cnn" in MODELS and "nope" not in MODELS
    spec = get_spec("mlp-bp")
    assert (spec.name, spec.family, spec.default_recipe, spec.reproduces) == ("mlp-bp", "torch", "seed-003-bp",
                                                                              "seed-003")
    assert spec.defaults == {"sizes": (784, 512, 256, 10)} and spec.cls.__name__ == "MLP"
    assert get_spec("scratch").published == "> 96% test (~95% typical)"
    assert get_spec("hybrid-qnn10-classical").defaults == {"layer": "classical"}


def test_stacked_decorators_register_one_class_under_several_names_with_their_own_defaults():
    assert get_spec("mlp-312").cls is get_spec("mlp-bp").cls is get_spec("mlp-512").cls
    sizes = {name: [m.out_features for m in create_model(name).net if hasattr(m, "out_features")]
             for name in ("mlp-312", "mlp-bp", "mlp-512")}
    assert sizes == {"mlp-312": [312, 256, 10], "mlp-bp": [512, 256, 10], "mlp-512": [512, 512, 10]}
    assert model_args("mlp-bp", num_classes=2) == {"sizes": [784, 512, 256, 10], "num_classes": 2}


def test_unknown_names_and_bad_arguments_are_model_errors():
    with pytest.raises(ModelError, match=re.escape("unknown model 'nope'; available: scratch, mlp-312")):
        get_spec("nope")
    with pytest.raises(KeyError):
        MODELS["nope"]
    with pytest.raises(ModelError, match="bad arguments for model 'cnn'"):
        create_model("cnn", width=3)


def test_a_name_registers_once_and_a_family_is_checked():
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_model("cnn", family="torch", description="again", default_recipe="cnn")
    with pytest.raises(ValueError, match="family must be one of"):
        registry.register_model("jax-net", family="jax", description="no", default_recipe="cnn")
    assert "jax-net" not in list_models()


def test_the_registry_docstring_examples_run():
    result = doctest.testmod(registry, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
