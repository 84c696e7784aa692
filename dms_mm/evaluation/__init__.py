from .metrics import Perplexity

__all__ = ['Perplexity']
