# The paper's scale-up protocol on the glyphs set: the supernet grown 1.5x in width (stem
# and base width 24) and 2x in depth (mmpretrain's CIFAR ResNet-34: 3-4-6-3 BasicBlocks
# instead of 2-2-2-2), searched down to the FLOPs of the glyphs supernet
# (resnet18-w16_1xb64_glyphs.py), against which benchmarks/compare.py compares it.
_base_ = ['./dms_resnet18-w16_search_glyphs.py']

# the glyphs supernet's FLOPs at 32x32 as the DMS mutator counts them;
# tests/test_configs/test_resnet_configs.py recounts it
resnet18_w16_flops_32 = 35360128

model = dict(
    architecture=dict(
        backbone=dict(depth=34, stem_channels=24, base_channels=24),
        head=dict(in_channels=8 * 24)),
    target_flops_ratio=None,
    target_flops=resnet18_w16_flops_32,
)
