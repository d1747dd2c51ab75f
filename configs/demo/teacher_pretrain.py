# The demo's "foundation model": the 6-block softmax ViT trained from scratch, with the linear
# head, on a pretraining set of context scenes (another seed than stage 3's), then saved in the
# official DINOv2 release layout. The linear head forces the global reasoning into the backbone.
_base_ = ['./linear_probe.py']

max_iters = 1200
model = dict(backbone=dict(
    attn_type='softmax', frozen_blocks=0, init_cfg=None,
    # LayerScale starts at 1, not DINOv2's 1e-5: from scratch, 1e-5 keeps every block an
    # identity for hundreds of iterations.
    vit_cfg=dict(init_values=1.0)))
train_dataloader = dict(dataset=dict(data_root='work_dirs/demo/data/context_pretrain'))
val_dataloader = dict(dataset=dict(data_root='work_dirs/demo/data/context_pretrain'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05), clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.04, by_epoch=False, begin=0, end=80),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=80, end=max_iters, eta_min=1e-6),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
