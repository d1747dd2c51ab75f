"""Evaluation refuses a checkpoint that does not fit the model, instead of scoring random weights;
resuming refuses one that does not fit the model or the optimizer, instead of pages of key
warnings and torch's `loaded state dict has a different number of parameter groups`.

mmengine loads checkpoints with `strict=False`: a backbone export, a stage-1/2 checkpoint or
a plain ViT state dict under a segmentor config print key warnings, leave the model partly
at its random initialisation, and tools/test.py reports that model's mIoU. Softmax and
linear attention have the same parameters, so a softmax checkpoint under a linear config
loads without a single warning; the config saved in the checkpoint (`meta.cfg`) tells.
"""
import ast
import re
from collections import Counter
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmengine.runner.checkpoint import load_state_dict
from mmseg.registry import HOOKS, MODELS

from ..models.backbones.attention_settings import attention_differences
from .checkpoint_file import read_checkpoint
from .model_wrappers import bare_model

# What evaluation and inference take, for the messages about a file that is none of it.
SEGMENTOR_CHECKPOINT = 'a segmentor checkpoint written by tools/train.py (work_dir/iter_*.pth)'


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the config's model: the message says how and the likely cause."""


def _weights(checkpoint: dict) -> Dict:
    """The checkpoint's state dict, without the `module.` prefix of a wrapped model (as mmengine loads it)."""
    state = checkpoint.get('state_dict', checkpoint)
    return {re.sub(r'^module\.', '', key): value for key, value in state.items()}


def _summary(keys: List[str]) -> str:
    modules = Counter(key.split('.')[0] for key in keys)
    return (f'{len(keys)} keys ({", ".join(f"{m}.*: {n}" for m, n in modules.most_common())}), '
            f'e.g. {", ".join(keys[:3])}')


def _likely_cause(state: Dict, meta: dict) -> str:
    if meta.get('stage') in ('attention_align', 'feature_align'):
        return ('it is a stage-1/2 backbone export: a backbone, not a segmentor. Use it as '
                'model.backbone.init_cfg.checkpoint, train stage 3 (tools/train.py) and evaluate that run\'s '
                'iter_*.pth')
    if any(key.startswith(('teacher.', 'student')) for key in state):
        return ('it is a stage-1/2 training checkpoint: its backbone_*.pth export initialises stage 3 '
                '(model.backbone.init_cfg.checkpoint); train stage 3 and evaluate that run\'s iter_*.pth')
    if any(re.match(r'(vit\.)?(blocks\.|cls_token)', key) for key in state):
        return ('it holds a ViT\'s weights (timm or DINOv2 layout), not a segmentor: they initialise the '
                'backbone (model.backbone.init_cfg.checkpoint); train stage 3 and evaluate that run\'s iter_*.pth')
    return ('it is a segmentor trained with another model config (model size, heads, number of classes): '
            'use it with the config it was trained with')


def _literal(node: ast.AST):
    """The value of a literal expression in which `dict(...)` calls count (mmengine's pretty_text uses them)."""
    if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'dict' and not node.args:
        if any(kw.arg is None for kw in node.keywords):
            raise ValueError('dict(**...) is not a literal')
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def saved_model_cfg(checkpoint: dict) -> Optional[dict]:
    """The `model` of the config a checkpoint was trained with, read without executing the text."""
    text = checkpoint.get('meta', {}).get('cfg')
    try:
        for node in ast.parse(text).body:
            if isinstance(node, ast.Assign) and [getattr(t, 'id', None) for t in node.targets] == ['model']:
                return _literal(node.value)
    except (TypeError, ValueError, SyntaxError):  # no config saved, or not one of literals
        pass
    return None


def _builds_adala_vit(backbone) -> bool:
    return (isinstance(backbone, dict) and isinstance(backbone.get('type'), str)
            and MODELS.get(backbone['type']) is MODELS.get('AdaLAViT'))


def attention_mismatch(checkpoint: dict, model_cfg: dict) -> Optional[str]:
    """How the checkpoint's backbone attention differs from `model_cfg`'s, or None."""
    while 'module' in model_cfg:  # a test-time augmentation wrapper
        model_cfg = model_cfg['module']
    saved = saved_model_cfg(checkpoint)
    if saved is None:
        return None
    theirs, ours = saved.get('backbone'), model_cfg.get('backbone')
    if not (_builds_adala_vit(theirs) and _builds_adala_vit(ours)):
        return None
    differing = [f'{key}={a!r} in the checkpoint\'s config, {b!r} in this one'
                 for key, a, b in attention_differences(theirs, ours)]
    return '; '.join(differing) or None


def assert_checkpoint_fits(model: nn.Module, checkpoint: dict, filename: str,
                           model_cfg: Optional[dict] = None) -> None:
    """Raise `CheckpointMismatchError` unless `checkpoint` sets every weight of `model` and nothing else.

    Args:
        model: The model to evaluate (wrappers are looked through).
        checkpoint: The loaded checkpoint (a `state_dict` entry, or a state dict).
        filename: Its path, for the message.
        model_cfg: The config's `model`: then the backbone's attention must also match the
            checkpoint's saved config (they have the same parameters).
    """
    state = _weights(checkpoint)
    expected = bare_model(model).state_dict()
    missing = [k for k in expected if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in expected]
    resized = [f'{k} {tuple(v.shape)} vs the model\'s {tuple(expected[k].shape)}' for k, v in state.items()
               if k in expected and hasattr(v, 'shape') and v.shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'missing (left at random initialisation): {_summary(missing)}')
    if unexpected:
        problems.append(f'unexpected (not in the model): {_summary(unexpected)}')
    if resized:
        problems.append(f'of another shape: {len(resized)} tensors, e.g. {", ".join(resized[:3])}')
    if problems:
        raise CheckpointMismatchError(
            f'{filename} does not fit the config\'s {type(bare_model(model)).__name__}:\n  '
            + '\n  '.join(problems) + f'\nLikely cause: {_likely_cause(state, checkpoint.get("meta", {}))}.')
    attention = attention_mismatch(checkpoint, model_cfg) if model_cfg is not None else None
    if attention:
        raise CheckpointMismatchError(
            f'{filename} was trained with another attention than the config\'s ({attention}): the weights fit '
            'but would compute something else. Use it with the config it was trained with.')


def load_segmentor_checkpoint(model: nn.Module, filename: str, model_cfg: Optional[dict] = None) -> dict:
    """Load a checkpoint for evaluation or inference, refusing one that does not fit (see above).

    For callers that build the model themselves, e.g. `mmseg.apis.init_model(config, None)`;
    returns the checkpoint (its `meta` holds `dataset_meta`).
    """
    checkpoint = read_checkpoint(filename, expected=SEGMENTOR_CHECKPOINT)
    assert_checkpoint_fits(model, checkpoint, filename, model_cfg)
    load_state_dict(bare_model(model), _weights(checkpoint), strict=True)
    return checkpoint


def _group_sizes(optimizer_state: dict) -> List[int]:
    return [len(group['params']) for group in optimizer_state.get('param_groups', [])]


def _groups(sizes: List[int]) -> str:
    shown = ', '.join(map(str, sizes[:6])) + (', ...' if len(sizes) > 6 else '')
    return f'{len(sizes)} parameter groups ({sum(sizes)} parameters: {shown} per group)'


def assert_optimizer_fits(optim_wrapper, checkpoint: dict, filename: str) -> None:
    """Raise `CheckpointMismatchError` unless the checkpoint's optimizer state has the
    parameter groups of `optim_wrapper` (an `OptimWrapper` or `OptimWrapperDict`), group for group.

    The groups come from the optimizer constructor (layer decay, `paramwise_cfg`) and from which
    parameters train, so another config's checkpoint has other groups even where the model fits.
    """
    saved = checkpoint.get('optimizer')
    if saved is None:
        return
    wrappers = dict(optim_wrapper.items()) if isinstance(optim_wrapper, OptimWrapperDict) else {'': optim_wrapper}
    for name, wrapper in wrappers.items():
        state = saved.get(name, {}) if name else saved
        theirs = _group_sizes(state)
        ours = [len(group['params']) for group in wrapper.optimizer.param_groups]
        if theirs != ours:
            raise CheckpointMismatchError(
                f'{filename} does not fit the config\'s optimizer{f" {name!r}" if name else ""}: the checkpoint holds '
                f'{_groups(theirs)}, the config\'s optimizer has {_groups(ours)}.\nLikely cause: it was trained '
                'with another config (optimizer constructor, paramwise_cfg or layer decay, or other parameters '
                'trained). Resume it with the config it was trained with, or start a new run from its weights '
                f'(--cfg-options load_from={filename}, without --resume).')


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Applies `assert_checkpoint_fits` to the checkpoint the runner loads, before any of it is loaded.

    tools/test.py adds it; tools/train.py adds it with `resume=True` when it resumes, and then
    the optimizer's parameter groups must fit too (`assert_optimizer_fits`).

    Args:
        resume: The checkpoint is resumed: check the optimizer state as well.
    """

    def __init__(self, resume: bool = False) -> None:
        self.resume = resume

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        filename = runner.cfg.get('load_from')
        assert_checkpoint_fits(runner.model, checkpoint, filename, runner.cfg.model)
        if self.resume:
            assert_optimizer_fits(runner.optim_wrapper, checkpoint, filename)
