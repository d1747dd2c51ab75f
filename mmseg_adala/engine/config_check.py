"""Typos in a config found before training starts, not hours into it or never.

mmengine reads the top-level keys it knows and ignores the rest, so `randomnes.seed=0`
from the command line changes nothing; `CheckpointHook` forwards unknown arguments to
`Runner.save_checkpoint`, so `default_hooks.checkpoint.intervall=1` fails at the first save.
`--cfg-options` takes any text it cannot read as a number, list or boolean as a string, so
`optim_wrapper.optimizer.lr=abc` fails at the first scheduler step, far from its cause.
"""
import difflib
import inspect
from typing import Iterable

from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner
from mmseg.registry import HOOKS

# Top-level keys mmengine 0.10.7 reads besides `Runner.__init__`'s arguments.
RUNNER_CFG_KEYS = ('runner_type', 'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters',
                   'activation_checkpointing', 'efficient_conv_bn_eval', 'compile')
# Keys of a hook's config that the registry (`_scope_`, set by `mmseg::` bases) and
# `Runner.register_hook` consume themselves.
HOOK_CFG_KEYS = ('type', '_scope_', 'priority')


# Top-level keys of ours that no config need set (their defaults are in the code that reads them).
TOOL_CFG_KEYS = ('max_image_pixels',)


class ConfigKeyError(ValueError):
    """A config key that nothing reads: the message names it and the likely intended key."""


class ConfigValueError(ConfigKeyError):
    """A `--cfg-options` value of another type than the config's value it replaces: the message names the key."""


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f' (did you mean {close[0]!r}?)' if close else ''


def check_option_keys(cfg: Config, options: dict) -> None:
    """Every `--cfg-options` key must start with a key of the config or one the Runner reads."""
    runner_keys = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    known = set(cfg.keys()) | runner_keys | set(RUNNER_CFG_KEYS) | set(TOOL_CFG_KEYS)
    for option in options:
        top = option.split('.')[0]
        if top not in known:
            raise ConfigKeyError(f'--cfg-options {option}: neither the config nor the Runner has a key '
                                 f'{top!r}{_did_you_mean(top, known)}; nothing would read it')


def _value_at(cfg: Config, key: str):
    """The config's value at dotted `key` (list items by index), or None where it has none."""
    value = cfg
    for part in key.split('.'):
        if isinstance(value, (Config, dict)) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _kind(value) -> str:
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    return 'a dict of settings' if isinstance(value, dict) else f'a {type(value).__name__}'


def check_option_types(cfg: Config, options: dict) -> None:
    """A `--cfg-options` value that stayed text where the config holds a number, boolean, list or dict is an error.

    The command line cannot say "this text was meant as text", so only text replacing something
    else is refused: `lr=abc` over `lr=2e-3`, `crop_size=big` over `(512, 512)`. Keys the config
    does not set, text over text and `None` pass.
    """
    for key, value in options.items():
        current = _value_at(cfg, key)
        if isinstance(value, str) and current is not None and not isinstance(current, str):
            raise ConfigValueError(f'--cfg-options {key}={value}: the config holds {_kind(current)} there '
                                   f'({current!r}), and {value!r} is not one: write it as the config does')


def check_hook_arguments(cfg: Config) -> None:
    """Every argument of every configured hook must be one its class takes."""
    hooks = [(f'default_hooks.{name}', hook) for name, hook in (cfg.get('default_hooks') or {}).items()]
    hooks += [(f'custom_hooks[{i}]', hook) for i, hook in enumerate(cfg.get('custom_hooks') or [])]
    for where, hook in hooks:
        hook_cls = None
        if isinstance(hook, dict):  # not None (switched off) or a built Hook
            hook_cls = hook['type'] if inspect.isclass(hook['type']) else HOOKS.get(hook['type'])
        if hook_cls is None:  # an unregistered type fails when the Runner is built, before training
            continue
        parameters = inspect.signature(hook_cls).parameters.values()
        named = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        # CheckpointHook passes its extra arguments on to Runner.save_checkpoint, together with
        # every argument that method has: any extra one is an error at the first save.
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
        if issubclass(hook_cls, CheckpointHook) or not takes_any:
            known = named | set(HOOK_CFG_KEYS)
            for key in hook:
                if key not in known:
                    raise ConfigKeyError(f'{where}: {hook_cls.__name__} has no argument {key!r}'
                                         f'{_did_you_mean(key, known)}')
