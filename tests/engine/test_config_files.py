"""A config is named by its path, by its name under configs/, or by the README's configs/ path from anywhere."""
import os.path as osp

import pytest

from mmseg_adala.engine.config_files import CONFIG_ROOT, ConfigNotFoundError, find_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_a_file_is_itself(tmp_path):
    config = tmp_path / 'adala_dinov2_l_ade20k.py'
    config.write_text('')
    assert find_config(str(config)) == str(config)


@pytest.mark.parametrize('name', ['adala_dinov2_l_ade20k.py', 'ablation/adala_dinov2_l_ade20k_stage1_only.py'])
def test_a_name_is_a_shipped_config(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the clone
    assert find_config(name) == osp.join(CONFIG_ROOT, name)
    assert find_config(f'configs/{name}') == osp.join(CONFIG_ROOT, name)
    assert open(find_config(name)).read() == open(osp.join(REPO, 'configs', name)).read()


def test_an_unknown_config_is_refused_with_the_place_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigNotFoundError, match=rf'^no_such\.py: no such file, nor a config of mmseg-adala '
                                                  rf'\(in {CONFIG_ROOT}\)'):
        find_config('no_such.py')
