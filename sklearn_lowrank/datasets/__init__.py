"""Synthetic teachers and task generators returning trial tensors (n_trials, n_timesteps, n_features)."""

from ._teacher import make_low_rank_teacher, simulate_rnn

__all__ = ["make_low_rank_teacher", "simulate_rnn"]
