"""Pure step functions: ``step(input, state, [weights,] p, dt) -> (output, new_state)``."""

from norse_core.functional.decode import max_decode, spikes_to_times_decode, sum_decode
from norse_core.functional.encode import (
    constant_current_lif_encode,
    euclidean_distance,
    gaussian_rbf,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)
from norse_core.functional.iaf import (
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
)
from norse_core.functional.li import LIParameters, LIState, li_feed_forward_step, li_step
from norse_core.functional.li_box import LIBoxParameters, LIBoxState, li_box_step
from norse_core.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_current_encoder,
    lif_feed_forward_step,
    lif_step,
)
from norse_core.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
)
from norse_core.functional.parameters import check_parameters
from norse_core.functional.threshold import (
    heaviside,
    register_surrogate,
    surrogate_derivative,
    surrogate_methods,
    threshold,
)

__all__ = [
    "threshold", "heaviside", "register_surrogate", "surrogate_derivative", "surrogate_methods",
    "check_parameters",
    "LIFParameters", "LIFFeedForwardState", "LIFState",
    "lif_feed_forward_step", "lif_step", "lif_current_encoder",
    "LIParameters", "LIState", "li_feed_forward_step", "li_step",
    "LIFBoxParameters", "LIFBoxFeedForwardState", "lif_box_feed_forward_step",
    "LIBoxParameters", "LIBoxState", "li_box_step",
    "IAFParameters", "IAFFeedForwardState", "IAFState", "iaf_feed_forward_step", "iaf_step",
    "poisson_encode", "poisson_encode_step", "signed_poisson_encode", "signed_poisson_encode_step",
    "constant_current_lif_encode", "population_encode", "euclidean_distance", "gaussian_rbf",
    "spike_latency_encode", "spike_latency_lif_encode",
    "sum_decode", "max_decode", "spikes_to_times_decode",
]

# Plasticity and regularisation
from norse_core.functional.regularization import regularize_step, spike_accumulator, voltage_accumulator
from norse_core.functional.stdp import STDPParameters, STDPState, stdp_step_conv2d, stdp_step_linear
from norse_core.functional.tsodyks_makram import TsodyksMakramParameters, TsodyksMakramState, stp_step

__all__ += [
    "STDPParameters", "STDPState", "stdp_step_linear", "stdp_step_conv2d",
    "TsodyksMakramParameters", "TsodyksMakramState", "stp_step",
    "spike_accumulator", "voltage_accumulator", "regularize_step",
]

# Izhikevich neurons (presets: Izhikevich 2004)
from norse_core.functional.izhikevich import (
    IzhikevichFeedForwardState,
    IzhikevichParameters,
    IzhikevichRecurrentState,
    IzhikevichState,
    IzhikevichSpikingBehavior,
    izhikevich_feed_forward_step,
    izhikevich_recurrent_step,
    IZHIKEVICH_BEHAVIORS,
    IzhikevichProtocol,
    IZHIKEVICH_PROTOCOLS,
    tonic_spiking,
    phasic_spiking,
    tonic_bursting,
    phasic_bursting,
    mixed_mode,
    spike_frequency_adaptation,
    class_1_exc,
    class_2_exc,
    spike_latency,
    subthreshold_oscillation,
    resonator,
    integrator,
    rebound_spike,
    rebound_burst,
    threshold_variability,
    bistability,
    dap,
    accommodation,
    inhibition_induced_spiking,
    inhibition_induced_bursting,
)

__all__ += [
    "IzhikevichParameters", "IzhikevichRecurrentState", "IzhikevichState", "IzhikevichFeedForwardState", "IzhikevichSpikingBehavior",
    "izhikevich_feed_forward_step", "izhikevich_recurrent_step",
    "IZHIKEVICH_BEHAVIORS", "IzhikevichProtocol", "IZHIKEVICH_PROTOCOLS",
    "tonic_spiking", "phasic_spiking", "tonic_bursting", "phasic_bursting", "mixed_mode",
    "spike_frequency_adaptation", "class_1_exc", "class_2_exc", "spike_latency",
    "subthreshold_oscillation", "resonator", "integrator", "rebound_spike", "rebound_burst",
    "threshold_variability", "bistability", "dap", "accommodation",
    "inhibition_induced_spiking", "inhibition_induced_bursting",
]

# Adaptive, exponential, conductance-based, refractory and multi-compartment neurons
from norse_core.functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
)
from norse_core.functional.lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from norse_core.functional.lif_adex_refrac import (
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracState,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_step,
)
from norse_core.functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from norse_core.functional.lif_mc import lif_mc_refrac_step, lif_mc_step
from norse_core.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)
from norse_core.functional.lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)
from norse_core.functional.refractory import refractory_step, refractory_update

__all__ += [
    "LSNNParameters", "LSNNState", "LSNNFeedForwardState", "lsnn_step", "lsnn_feed_forward_step",
    "LIFExParameters", "LIFExState", "LIFExFeedForwardState", "lif_ex_step", "lif_ex_feed_forward_step",
    "LIFAdExParameters", "LIFAdExState", "LIFAdExFeedForwardState", "lif_adex_step", "lif_adex_feed_forward_step",
    "LIFAdExRefracParameters", "LIFAdExRefracState", "LIFAdExRefracFeedForwardState",
    "lif_adex_refrac_step", "lif_adex_refrac_feed_forward_step",
    "LIFRefracParameters", "LIFRefracState", "LIFRefracFeedForwardState",
    "lif_refrac_step", "lif_refrac_feed_forward_step", "refractory_step", "refractory_update",
    "CobaLIFParameters", "CobaLIFState", "CobaLIFFeedForwardState", "coba_lif_step", "coba_lif_feed_forward_step",
    "lif_mc_step", "lif_mc_refrac_step",
]

# Norse's further names: surrogate functions, resets, logic, lifting, encoders, aliases
from norse_core.functional.izhikevich import accomodation, create_izhikevich_spiking_behavior
from norse_core.functional.li_box import li_box_feed_forward_step
from norse_core.functional.lif_adex import lif_adex_current_encoder
from norse_core.functional.lif_box import LIFBoxState
from norse_core.functional.lif_ex import lif_ex_current_encoder
from norse_core.functional.lif_mc import lif_mc_feed_forward_step, lif_mc_refrac_feed_forward_step
from norse_core.functional.lift import lift
from norse_core.functional.logical import logical_and, logical_or, logical_xor
from norse_core.functional.reset import ResetMethod, reset_subtract, reset_value
from norse_core.functional.threshold import (
    circ_dist_fn,
    heavi_circ_fn,
    heavi_erfc_fn,
    heavi_tanh_fn,
    logistic_fn,
    super_fn,
    triangle_fn,
)

__all__ += [
    "super_fn", "triangle_fn", "heavi_erfc_fn", "heavi_tanh_fn", "heavi_circ_fn", "circ_dist_fn", "logistic_fn",
    "ResetMethod", "reset_value", "reset_subtract", "logical_and", "logical_or", "logical_xor", "lift",
    "li_box_feed_forward_step", "LIFBoxState", "lif_ex_current_encoder", "lif_adex_current_encoder",
    "lif_mc_feed_forward_step", "lif_mc_refrac_feed_forward_step",
    "create_izhikevich_spiking_behavior", "accomodation",
]

# Adjoint steps (exact discrete adjoints; Norse's functional.adjoint) and sequence-level loops
from norse_core.functional import adjoint
from norse_core.functional.adjoint import *  # noqa: F401,F403
from norse_core.functional.adjoint import __all__ as _adjoint_all

__all__ += [*_adjoint_all]

# e-prop: eligibility traces of recurrent LIF and LSNN layers (Bellec et al. 2020)
from norse_core.functional.eprop import (
    EligibilityTraces,
    eligibility_traces,
    eprop_gradient,
    lif_eligibility_step,
    lsnn_eligibility_step,
    readout_filter_step,
)

__all__ += [
    "EligibilityTraces", "eligibility_traces", "lif_eligibility_step", "lsnn_eligibility_step",
    "readout_filter_step", "eprop_gradient",
]
