"""Shared helpers of the config tests."""
import pytest
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS


@pytest.fixture
def build_algorithm():
    """Build a config's ``model`` (with its data preprocessor), with some keys changed."""

    def build(cfg, **changes):
        model = cfg.model.to_dict()
        model.update(changes)
        model['data_preprocessor'] = cfg.data_preprocessor.to_dict()
        with DefaultScope.overwrite_default_scope('mmrazor'):
            return MODELS.build(model)

    return build
