# An MMDetection 2.x (0.x era) schedule: SGD, gradient clipping, fp16 with mmcv's
# default loss scale, and a per-parameter weight-decay policy.
# `migrate-optim convert --diff examples/mask_rcnn_r50_fpn_fp16_1x_coco.py` shows its
# MMEngine 1.x form.
model = dict(type='MaskRCNN')

# optimizer
optimizer = dict(
    type='SGD',
    lr=0.02,  # for 8 GPUs x 2 images
    momentum=0.9,
    weight_decay=0.0001,
    paramwise_cfg=dict(bias_decay_mult=0.))
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
# mixed precision: mmdet's trainer turns this into Fp16OptimizerHook
fp16 = dict()

# learning policy
lr_config = dict(
    policy='step',
    warmup='linear',
    warmup_iters=500,
    warmup_ratio=0.001,
    step=[8, 11])
runner = dict(type='EpochBasedRunner', max_epochs=12)
