#!/usr/bin/env python
"""MMSeg's tools/train.py, same flags: runs mmseg_adala/train.py (also `python -m mmseg_adala.train`)."""
from mmseg_adala.train import main

if __name__ == '__main__':
    main()
