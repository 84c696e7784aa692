# The scale-up search of dms_efficientnet-b0_scaleup_search_in1k.py on scikit-learn's digits at
# 32x32, so that it runs on one CPU: EfficientNet-B0 grown 1.5x in width and 2x in depth
# (29.49 MFLOPs at 32x32), searched down to B0's own FLOPs. Data and schedule are those of
# dms_efficientnet-b0_search_digits.py.
_base_ = ['./dms_efficientnet-b0_search_digits.py']

# EfficientNet-B0's FLOPs at 32x32 as the DMS mutator counts them (`python tools/dms_summary.py
# configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py`); a ratio of 0.2983 of the
# grown supernet. tests/test_configs/test_efficientnet_configs.py recounts it.
efficientnet_b0_flops_32 = 8798208

model = dict(
    expand=dict(channel_ratio=1.5, block_ratio=2.0, checkpoint=None),
    target_flops_ratio=None,
    target_flops=efficientnet_b0_flops_32,
)
