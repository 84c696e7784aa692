# The paper's scale-up protocol on the generated glyphs set: EfficientNet-B0 grown 1.5x in
# width and 2x in depth, searched down to B0's own FLOPs at 32x32. Data and schedule are
# those of dms_efficientnet-b0_search_glyphs.py; the grown model and the target are those of
# dms_efficientnet-b0_scaleup_search_digits.py (same architecture, same input size).
_base_ = ['./dms_efficientnet-b0_search_glyphs.py']

# EfficientNet-B0's FLOPs at 32x32 as the DMS mutator counts them (43 classes);
# tests/test_configs/test_efficientnet_configs.py recounts it.
efficientnet_b0_flops_32 = 8840448

model = dict(
    expand=dict(channel_ratio=1.5, block_ratio=2.0, checkpoint=None),
    target_flops_ratio=None,
    target_flops=efficientnet_b0_flops_32,
)
