from .causal_lm import CAUSAL_LMS, HFCausalLM

__all__ = ['CAUSAL_LMS', 'HFCausalLM']
