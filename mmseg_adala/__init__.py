"""mmseg-adala: importing the package registers all its modules with MMSeg/mmengine."""
from . import compat  # noqa: F401  (first: makes mmengine's checkpoint resume work on torch>=2.6)
from . import alignment, datasets, engine, models  # noqa: F401  (fills MMSeg's registries)

__version__ = '0.1.0'
