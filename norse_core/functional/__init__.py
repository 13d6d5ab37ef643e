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
from norse_core.functional.threshold import (
    heaviside,
    register_surrogate,
    surrogate_derivative,
    surrogate_methods,
    threshold,
)

__all__ = [
    "threshold", "heaviside", "register_surrogate", "surrogate_derivative", "surrogate_methods",
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
