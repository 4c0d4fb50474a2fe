"""Synthetic teachers, task generators and loaders returning trials (n_trials, n_timesteps, n_features)."""

from ._initial_states import make_rotational_dynamics, make_trial_state_teacher
from ._loaders import load_nwb_trials
from ._mante import load_mante_2013
from ._memory_tasks import make_delayed_match_to_sample_task, make_working_memory_task
from ._spikes import make_spiking_teacher
from ._tables import trials_from_dataframe
from ._tasks import make_context_dependent_task, make_perceptual_decision_task
from ._teacher import make_low_rank_teacher, simulate_rnn

__all__ = [
    "make_low_rank_teacher",
    "make_spiking_teacher",
    "make_trial_state_teacher",
    "make_rotational_dynamics",
    "simulate_rnn",
    "make_context_dependent_task",
    "make_perceptual_decision_task",
    "make_working_memory_task",
    "make_delayed_match_to_sample_task",
    "load_mante_2013",
    "load_nwb_trials",
    "trials_from_dataframe",
]
