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
from norse_core.module.sequential import Lift, SequentialState, has_state
from norse_core.module.snn import SNN, SNNCell, SNNLinearCell, SNNRecurrentCell

__all__ = [
    "SNN", "SNNCell", "SNNLinearCell", "SNNRecurrentCell",
    "LIF", "LIFCell", "LIFRecurrent", "LIFRecurrentCell",
    "LI", "LICell", "LILinearCell", "LIBox", "LIBoxCell", "LIFBox", "LIFBoxCell",
    "IAF", "IAFCell", "IAFRecurrent", "IAFRecurrentCell",
    "PoissonEncoder", "PoissonEncoderStep", "SignedPoissonEncoder", "SignedPoissonEncoderStep",
    "ConstantCurrentLIFEncoder", "PopulationEncoder", "SpikeLatencyEncoder", "SpikeLatencyLIFEncoder",
    "SumDecoder", "MaxDecoder", "SpikesToTimesDecoder",
    "SequentialState", "Lift", "has_state",
]
