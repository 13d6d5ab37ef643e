"""Utilities: state handling (pytrees) and plotting."""

from norse_core.utils.state import detach_state, stack_states

__all__ = ["detach_state", "stack_states"]

from norse_core.utils.plot import plot_heatmap_2d, plot_histogram_2d, plot_izhikevich, plot_neuron_states, plot_spikes_2d
from norse_core.utils.state import clone_tensor

__all__ += ["plot_spikes_2d", "plot_neuron_states", "plot_izhikevich", "plot_heatmap_2d", "plot_histogram_2d", "clone_tensor"]
