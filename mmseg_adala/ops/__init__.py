"""Attention kernels and feature maps on (B, H, N, d) tensors, each beside a naive reference."""
from .feature_maps import (FEATURE_MAPS, SEPARATE_KEY_MAPS, EluFeatureMap, FocusedFeatureMap, HedgehogFeatureMap,
                           ReluFeatureMap, build_feature_map)
from .linear_attention import linear_attention, linear_attention_naive
from .rotary_linear_attention import apply_rope, rotary_linear_attention, rotary_linear_attention_naive
from .softmax_attention import softmax_attention, softmax_attention_naive
from .window_attention import (window_attention, window_attention_naive, window_linear_attention,
                               window_linear_attention_naive, window_mask)

__all__ = [
    'linear_attention', 'linear_attention_naive', 'apply_rope', 'rotary_linear_attention',
    'rotary_linear_attention_naive', 'softmax_attention', 'softmax_attention_naive',
    'build_feature_map', 'FEATURE_MAPS', 'SEPARATE_KEY_MAPS', 'EluFeatureMap', 'ReluFeatureMap', 'FocusedFeatureMap',
    'HedgehogFeatureMap', 'window_attention', 'window_attention_naive', 'window_linear_attention',
    'window_linear_attention_naive', 'window_mask',
]
