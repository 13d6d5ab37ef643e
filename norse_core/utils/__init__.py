"""Utilities: state handling (pytrees) and plotting."""

from norse_core.utils.state import detach_state, stack_states

__all__ = ["detach_state", "stack_states"]
