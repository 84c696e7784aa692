"""Every model family exported at a FLOPs target, counted independently by mmengine."""
import pytest

from dms_det_test_utils import dms_rtmdet, dms_yolox
from dms_mm.structures import count_static, scale_to_target, to_static
from dms_mm.structures.export import everything_kept
from dms_test_utils import dms_model, randomize_structure

FAMILIES = {
    'efficientnet-b0': lambda: dms_model('efficientnet-b0'),
    'resnet50': lambda: dms_model('resnet50'),
    'deit': lambda: dms_model('deit'),
    'yolox': lambda: dms_yolox(128),
    'rtmdet': lambda: dms_rtmdet(128),
}


@pytest.mark.parametrize('name', FAMILIES)
def test_the_exported_model_is_at_the_target_by_mmengines_count(name):
    model, mutator = FAMILIES[name]()
    randomize_structure(mutator, seed=0)
    reached = scale_to_target(mutator, 0.5)  # by the soft count
    assert 0.45 <= reached <= 0.5
    shape = mutator.demo_input_shape
    with everything_kept(mutator):
        supernet, _ = count_static(to_static(model, mutator), shape)
    static, _ = count_static(to_static(model, mutator), shape)
    # mmengine's count of the static model against its count of the whole supernet
    assert static / supernet == pytest.approx(reached, abs=0.01)
    assert static / supernet <= 0.51
