"""Norse's module paths for norse_core's modules, installed once by ``import norse_core``.

Norse 1.1.0 names some modules differently (``functional.leaky_integrator`` for our
``functional.li``) or splits a model over two (``module.lif_adex_refrac``). Each alias below
makes ``import norse_core.<alias>`` and ``from norse_core.<alias> import X`` give the module
it names, so code written against ``norse.torch.<alias>`` runs after the one-import change.
An alias is the same module object, not a copy; the package gets the alias as an attribute
unless it already has one of that name (``norse_core.functional.heaviside`` stays the function).
"""

from __future__ import annotations

import importlib
import sys
from typing import Dict

#: Norse's path (relative to ``norse_core``) -> ours.
ALIASES: Dict[str, str] = {
    "functional.leaky_integrator": "functional.li",
    "functional.leaky_integrator_box": "functional.li_box",
    "functional.heaviside": "functional.threshold",
    "functional.superspike": "functional.threshold",
    "functional.lif_mc_refrac": "functional.lif_mc",
    "functional.adjoint.lif_adjoint": "functional.adjoint.lif",
    "functional.adjoint.lif_refrac_adjoint": "functional.adjoint.lif_refrac",
    "functional.adjoint.lsnn_adjoint": "functional.adjoint.lsnn",
    "functional.adjoint.lif_mc_adjoint": "functional.adjoint.lif_mc",
    "functional.adjoint.lif_mc_refrac_adjoint": "functional.adjoint.lif_mc",
    "functional.adjoint.coba_lif_adjoint": "functional.adjoint.coba_lif",
    "module.leaky_integrator": "module.li",
    "module.leaky_integrator_box": "module.li_box",
    "module.lift": "module.sequential",
    "module.lif_adex_refrac": "module.lif_adex",
    "module.lif_mc_refrac": "module.lif_mc",
    "utils.clone": "utils.state",
    "utils.export_nir": "nir",
    "utils.import_nir": "nir",
    "utils.plot.plot": "utils.plot",
}


def install(package: str = "norse_core") -> None:
    """Registers every alias in ``sys.modules`` (idempotent)."""
    for alias, target in ALIASES.items():
        module = importlib.import_module(f"{package}.{target}")
        sys.modules.setdefault(f"{package}.{alias}", module)
        parent_name, _, leaf = f"{package}.{alias}".rpartition(".")
        parent = sys.modules.get(parent_name)
        if parent is not None and parent is not module and not hasattr(parent, leaf):
            setattr(parent, leaf, module)
