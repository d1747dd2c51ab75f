# Demo ablation: stage 2 after stage 1 with only the attentions' Q/K/V projections trained.
_base_ = ['./stage2.py']

model = dict(trainable=('.attn.qkv.',))
