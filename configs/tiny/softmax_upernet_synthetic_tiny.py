# The tiny softmax ViT + UperNet on the synthetic data: the toy teacher's architecture (the demo
# pretrains it from scratch with this config) and the softmax baseline of stage 3.
_base_ = ['./adala_upernet_synthetic_tiny.py']

model = dict(backbone=dict(attn_type='softmax'))
