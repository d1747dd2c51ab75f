"""Where the configs are, so a config can be named without a path after a plain install.

A wheel carries `configs/` as `mmseg_adala/.mim/configs`, the layout OpenMMLab packages use for
their shipped configs (setup.py copies it there); a clone or an editable install reads the
clone's `configs/`. Either way `adala_dinov2_l_ade20k.py` or
`ablation/adala_dinov2_l_ade20k_stage1_only.py` names a config, as does the README's
`configs/adala_dinov2_l_ade20k.py` outside a clone.
"""
import os.path as osp

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
_SHIPPED = osp.join(_PACKAGE, '.mim', 'configs')
CONFIG_ROOT = _SHIPPED if osp.isdir(_SHIPPED) else osp.join(osp.dirname(_PACKAGE), 'configs')


class ConfigNotFoundError(FileNotFoundError):
    """Neither a file nor the name of a config that ships with mmseg-adala."""


def find_config(config: str) -> str:
    """`config` if it is a file, else the shipped config of that name (relative to configs/)."""
    if osp.isfile(config):
        return config
    name = config[len('configs/'):] if config.startswith('configs/') else config
    shipped = osp.join(CONFIG_ROOT, name)
    if osp.isfile(shipped):
        return shipped
    raise ConfigNotFoundError(f'{config}: no such file, nor a config of mmseg-adala (in {CONFIG_ROOT}), '
                              'e.g. adala_dinov2_l_ade20k.py or ablation/adala_dinov2_l_ade20k_stage1_only.py')
