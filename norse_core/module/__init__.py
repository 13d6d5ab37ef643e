"""Modules over the functional steps: cells (one step), layers (over time), containers."""

from norse_core.module.decode import MaxDecoder, SpikesToTimesDecoder, SumDecoder
from norse_core.module.encode import (
    ConstantCurrentLIFEncoder,
    PoissonEncoder,
    PoissonEncoderStep,
    PopulationEncoder,
    SignedPoissonEncoder,
    SignedPoissonEncoderStep,
    SpikeLatencyEncoder,
    SpikeLatencyLIFEncoder,
)
from norse_core.module.iaf import IAF, IAFCell, IAFRecurrent, IAFRecurrentCell
from norse_core.module.li import LI, LICell, LILinearCell
from norse_core.module.li_box import LIBox, LIBoxCell
from norse_core.module.lif import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell
from norse_core.module.lif_box import LIFBox, LIFBoxCell
from norse_core.module.sequential import (
    Lift,
    RecurrentSequential,
    RecurrentSequentialState,
    SequentialState,
    has_state,
)
from norse_core.module.snn import SNN, SNNCell, SNNLinearCell, SNNRecurrentCell

__all__ = [
    "SNN", "SNNCell", "SNNLinearCell", "SNNRecurrentCell",
    "LIF", "LIFCell", "LIFRecurrent", "LIFRecurrentCell",
    "LI", "LICell", "LILinearCell", "LIBox", "LIBoxCell", "LIFBox", "LIFBoxCell",
    "IAF", "IAFCell", "IAFRecurrent", "IAFRecurrentCell",
    "PoissonEncoder", "PoissonEncoderStep", "SignedPoissonEncoder", "SignedPoissonEncoderStep",
    "ConstantCurrentLIFEncoder", "PopulationEncoder", "SpikeLatencyEncoder", "SpikeLatencyLIFEncoder",
    "SumDecoder", "MaxDecoder", "SpikesToTimesDecoder",
    "SequentialState", "RecurrentSequential", "RecurrentSequentialState", "Lift", "has_state",
]

# Regularisation and pointwise-in-time convolution
from norse_core.module.conv import LConv2d
from norse_core.module.regularization import RegularizationCell

__all__ += ["RegularizationCell", "LConv2d"]

# Izhikevich neurons
from norse_core.module.izhikevich import Izhikevich, IzhikevichCell, IzhikevichRecurrent, IzhikevichRecurrentCell

__all__ += ["Izhikevich", "IzhikevichCell", "IzhikevichRecurrent", "IzhikevichRecurrentCell"]

# Adaptive, exponential, conductance-based, refractory and multi-compartment neurons
from norse_core.module.coba_lif import CobaLIF, CobaLIFCell, CobaLIFRecurrent, CobaLIFRecurrentCell
from norse_core.module.lif_adex import (
    LIFAdEx,
    LIFAdExCell,
    LIFAdExRecurrent,
    LIFAdExRecurrentCell,
    LIFAdExRefrac,
    LIFAdExRefracCell,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
)
from norse_core.module.lif_ex import LIFEx, LIFExCell, LIFExRecurrent, LIFExRecurrentCell
from norse_core.module.lif_mc import LIFMCRecurrent, LIFMCRecurrentCell, LIFMCRefracRecurrent, LIFMCRefracRecurrentCell
from norse_core.module.lif_refrac import LIFRefrac, LIFRefracCell, LIFRefracRecurrent, LIFRefracRecurrentCell
from norse_core.module.lsnn import LSNN, LSNNCell, LSNNRecurrent, LSNNRecurrentCell

__all__ += [
    "LSNN", "LSNNCell", "LSNNRecurrent", "LSNNRecurrentCell",
    "LIFEx", "LIFExCell", "LIFExRecurrent", "LIFExRecurrentCell",
    "LIFAdEx", "LIFAdExCell", "LIFAdExRecurrent", "LIFAdExRecurrentCell",
    "LIFAdExRefrac", "LIFAdExRefracCell", "LIFAdExRefracRecurrent", "LIFAdExRefracRecurrentCell",
    "LIFRefrac", "LIFRefracCell", "LIFRefracRecurrent", "LIFRefracRecurrentCell",
    "CobaLIF", "CobaLIFCell", "CobaLIFRecurrent", "CobaLIFRecurrentCell",
    "LIFMCRecurrent", "LIFMCRecurrentCell", "LIFMCRefracRecurrent", "LIFMCRefracRecurrentCell",
]

# e-prop: online gradients for recurrent LIF and LSNN layers (Bellec et al. 2020)
from norse_core.module.eprop import EProp

__all__ += ["EProp"]
