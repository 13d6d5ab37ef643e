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
