"""The attention settings of an AdaLAViT: one shape for every stage, export and loader.

The shape is AdaLAViT's own arguments::

    dict(attn_type='linear',                      # or one name per block
         feature_map='elu',
         attn_cfg=dict(window_size=7, local_concentration=True),  # further AdaLAAttention arguments
         block_local_concentration=False)         # L2ViT's block branch: where there are blocks

Stage 1 takes its students' attention in this shape (`AttentionAlignModel(student=...)`, without
the block branch: it aligns attentions only), stages 2 and 3 build AdaLAViTs from it, and every
stage export records it in its `meta` (`AdaLAViT.variant`). Weights trained for one kernel load
into another without a single missing key, and the parameters one variant has and the other
lacks (learned feature maps, local concentration) would stay at their initialisation: the
loaders compare the settings with `attention_differences`.
"""
import inspect
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from mmengine.config import ConfigDict

from ..attention import ATTN_TYPES, AdaLAAttention

ATTENTION_SETTINGS = ('attn_type', 'feature_map', 'attn_cfg', 'block_local_concentration')
# AdaLAAttention's arguments and their defaults, which settings leave out.
ATTENTION_DEFAULTS = {name: param.default for name, param in inspect.signature(AdaLAAttention).parameters.items()}
# The attn_cfg options that change what the same weights compute. `init_window_factor` only
# starts training; `rotate_half` and `num_prefix_tokens` are the timm model's.
COMPARED_OPTIONS = ('feature_map_cfg', 'value_conv', 'local_concentration', 'eps', 'window_size')


def per_layer_attn_types(attn_type: Union[str, Sequence[str]], depth: int) -> List[str]:
    """One kernel name per block: `attn_type` for all `depth` blocks, or its list of `depth` names."""
    types = [attn_type] * depth if isinstance(attn_type, str) else list(attn_type)
    if len(types) != depth:
        raise ValueError(f'attn_type has {len(types)} entries for {depth} blocks')
    unknown = set(types) - set(ATTN_TYPES)
    if unknown:
        raise ValueError(f'unknown attn_type {sorted(unknown)}; choose from {ATTN_TYPES}')
    return types


def attention_settings(cfg: Mapping, depth: Optional[int] = None) -> dict:
    """The attention settings held by `cfg`, in the one shape, as plain dicts and lists.

    Args:
        cfg: An AdaLAViT config, stage 1's `student`, an `AdaLAViT.variant` or a stage export's
            `meta`; its other keys (arch, init_cfg, stage, ...) are left out. A missing
            attn_type or feature_map is AdaLAAttention's default; block_local_concentration is
            kept where given only (stage 1 has no blocks). AdaLAAttention options beside
            attn_type rather than inside attn_cfg, the flat meta that stage exports used to
            record, move into attn_cfg, so such exports still load.
        depth: Number of blocks: attn_type becomes one name per block (checked).
    """
    flat = {key: value for key, value in cfg.items()
            if key in ATTENTION_DEFAULTS and key not in ('attn_type', 'feature_map')}
    attn_type = cfg.get('attn_type', ATTENTION_DEFAULTS['attn_type'])
    settings = dict(
        attn_type=(per_layer_attn_types(attn_type, depth) if depth is not None
                   else attn_type if isinstance(attn_type, str) else list(attn_type)),
        feature_map=cfg.get('feature_map', ATTENTION_DEFAULTS['feature_map']),
        attn_cfg={**flat, **(cfg.get('attn_cfg') or {})})
    if 'block_local_concentration' in cfg:
        settings['block_local_concentration'] = cfg['block_local_concentration']
    return ConfigDict(settings).to_dict()  # a meta of plain dicts loads without running code


def _kernels(attn_type: Union[str, List[str]]) -> Union[str, Tuple[str, ...]]:
    """One name for a list of one kind: 'linear' and ['linear'] * depth are the same setting."""
    if isinstance(attn_type, str):
        return attn_type
    return attn_type[0] if len(set(attn_type)) == 1 else tuple(attn_type)


def _option(settings: dict, name: str) -> Any:
    """An attn_cfg option, its default where missing; no feature-map arguments are an empty dict."""
    value = settings['attn_cfg'].get(name, ATTENTION_DEFAULTS[name])
    if name == 'feature_map_cfg':
        return value or {}
    return value


def attention_differences(theirs: Mapping, ours: Mapping) -> List[Tuple[str, Any, Any]]:
    """(setting, theirs, ours) for each attention setting in which two configs differ.

    Either side is anything `attention_settings` reads. Compared: attn_type (one name equals a
    list of it), feature_map, each of `COMPARED_OPTIONS` as `attn_cfg.<name>` (missing ones are
    AdaLAAttention's defaults), and block_local_concentration where both sides record it.
    """
    theirs, ours = attention_settings(theirs), attention_settings(ours)
    differences = []
    if _kernels(theirs['attn_type']) != _kernels(ours['attn_type']):
        differences.append(('attn_type', theirs['attn_type'], ours['attn_type']))
    pairs = [('feature_map', theirs['feature_map'], ours['feature_map'])]
    pairs += [(f'attn_cfg.{name}', _option(theirs, name), _option(ours, name)) for name in COMPARED_OPTIONS]
    if 'block_local_concentration' in theirs and 'block_local_concentration' in ours:
        pairs.append(('block_local_concentration', theirs['block_local_concentration'],
                      ours['block_local_concentration']))
    return differences + [(name, a, b) for name, a, b in pairs if a != b]
