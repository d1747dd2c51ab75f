"""mmseg-adala: importing the package registers all its modules with MMSeg/mmengine."""
from .mmcv_check import require_mmcv_ops

require_mmcv_ops()  # before mmseg is imported, whose own error would hide the cause

from . import alignment, datasets, engine, models  # noqa: E402,F401  (fills MMSeg's registries)

__version__ = '0.1.0'
