# Stage-3 fine-tuning of an AdaLAViT segmentor, 160k iterations (MMSeg's schedule, our
# optimiser): AdamW with layer-wise learning-rate decay (lower blocks keep more of their
# pretrained features) and, as BEiT and DINOv2 fine-tune, no weight decay on 1-D tensors
# (norms, biases, LayerScale), tokens and position embeddings (the constructor's defaults),
# bf16 autocast, gradient clipping, linear warm-up then poly decay.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

optim_wrapper = dict(
    _delete_=True, type='AmpOptimWrapper', dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayOptimizerConstructor', paramwise_cfg=dict(decay_rate=0.9),
    clip_grad=dict(max_norm=3.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
custom_hooks = [dict(type='EffectiveBatchHook')]
