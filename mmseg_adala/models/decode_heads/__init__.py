from .bn_head import BNHead

__all__ = ['BNHead']
