from .encoder_decoder import AdaLAEncoderDecoder

__all__ = ['AdaLAEncoderDecoder']
