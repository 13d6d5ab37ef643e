"""norse_core: deep learning with spiking neural networks on PyTorch.

``import norse_core as snn`` gives every public name at top level, named as in Norse:
``snn.LIFParameters``, ``snn.lif_feed_forward_step``, ``snn.LIFCell``, ``snn.SequentialState``.
"""

from norse_core import functional, module, utils
from norse_core.functional import *  # noqa: F401,F403
from norse_core.functional import __all__ as _functional_all
from norse_core.module import *  # noqa: F401,F403
from norse_core.module import __all__ as _module_all
from norse_core.utils import detach_state, stack_states

__version__ = "0.1.0"
__all__ = [*_functional_all, *_module_all, "detach_state", "stack_states", "functional", "module", "utils"]

from norse_core.nir import from_nir, to_nir  # NIR export/import; the 'nir' package is imported only when they run
__all__ += ["to_nir", "from_nir"]

from norse_core import _norse_paths

_norse_paths.install()  # Norse's module paths: norse_core.functional.leaky_integrator, ...
del _norse_paths

# Norse's flags for its optional plotting and TensorBoard helpers, and its plot functions
import importlib.util as _util

HAS_MATPLOTLIB = _util.find_spec("matplotlib") is not None
HAS_TENSORBOARD = _util.find_spec("tensorboard") is not None
del _util
from norse_core.utils.plot import (  # noqa: E402 (matplotlib is imported when they run)
    plot_heatmap_2d,
    plot_histogram_2d,
    plot_izhikevich,
    plot_neuron_states,
    plot_spikes_2d,
)

__all__ += ["HAS_MATPLOTLIB", "HAS_TENSORBOARD", "plot_heatmap_2d", "plot_histogram_2d", "plot_izhikevich",
            "plot_neuron_states", "plot_spikes_2d"]
