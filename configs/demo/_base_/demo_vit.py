# The demo's foundation model: a DINOv2-shaped ViT (arch='dinov2_vits14': LayerScale, final
# norm, patch 14) cut down to 6 blocks of width 64, deep enough for linear attention's errors
# to compound, on 112x112 images (an 8x8 patch grid). The demo's configs take its size from here.
demo_vit_cfg = dict(embed_dim=64, depth=6, num_heads=4)
