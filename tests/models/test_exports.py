"""Each package declares its public surface explicitly."""

from __future__ import annotations

import inspect

from tortoise.models import Model

import models


def test_models_lists_every_model_class_it_exports() -> None:
    exported = {name for name in models.__all__ if inspect.isclass(getattr(models, name))
                and issubclass(getattr(models, name), Model)}
    assert exported == {cls.__name__ for cls in models.__models__}


def test_every_exported_name_exists() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
