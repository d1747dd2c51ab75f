#!/usr/bin/env python
"""MMSeg's tools/test.py, same flags: runs mmseg_adala/test.py (also `python -m mmseg_adala.test`)."""
from mmseg_adala.test import main

if __name__ == '__main__':
    main()
