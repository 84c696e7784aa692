from .digits import DIGITS_CLASSES, DigitsDataset

__all__ = ['DIGITS_CLASSES', 'DigitsDataset']
