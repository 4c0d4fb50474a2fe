"""Loaders: Mante et al. 2013 unit files written here with scipy.io.savemat, and NWB files written with pynwb."""


import numpy as np
import pytest
from scipy.io import savemat

from sklearn_lowrank.datasets import load_mante_2013, load_nwb_trials

# -- Mante et al. 2013 -----------------------------------------------------------------------------------------

MOTION = (-0.5, -0.05, 0.05, 0.5)
COLOUR = (-0.5, -0.06, 0.06, 0.5)
T_START, N_BINS = -100, 300  # ms from the dots onset, 1 ms bins (the real files: -100 to 850 ms)


def _period(context, motion_rank, colour_rank):
    """Inter-spike period (ms) of the deterministic spike train of each condition: rates 100 to 1000 Hz."""
    return {1: 1, 2: 2, 3: 5, 4: 10}[1 + (motion_rank + colour_rank + (context > 0)) % 4]


def _write_unit(path, *, motion=MOTION, colour=COLOUR, n_repeats=2, skip=(), with_time=True, gain=1.0):
    """A unit file in the published layout: struct ``unit`` with response, time and task_variable."""
    rows, tv = [], {k: [] for k in ("stim_dir", "stim_col", "stim_col2dir", "targ_dir", "context", "correct",
                                    "stim_trial")}
    for context in (1, -1):
        for i, m in enumerate(motion):
            for j, c in enumerate(colour):
                if (context, i, j) in skip:
                    continue
                choice = np.sign(m if context == 1 else c)
                for correct in [1] * n_repeats + [0]:
                    row = np.zeros(N_BINS)
                    row[:: _period(context, i, j)] = gain
                    if not correct:
                        row[:] = 1.0  # error trials must not enter the averages
                    rows.append(row)
                    tv["stim_dir"].append(m)
                    tv["stim_col"].append(-c)
                    tv["stim_col2dir"].append(c)
                    tv["targ_dir"].append(choice if correct else -choice)
                    tv["context"].append(context)
                    tv["correct"].append(correct)
                    tv["stim_trial"].append(len(rows))
    unit = {"response": np.array(rows), "task_variable": {k: np.array(v, dtype=float) for k, v in tv.items()},
            "dimension": path.stem}
    if with_time:
        unit["time"] = (T_START + np.arange(N_BINS)) / 1000.0
    savemat(str(path), {"unit": unit})


@pytest.fixture
def mante_folder(tmp_path):
    _write_unit(tmp_path / "ar000001_1_a1_Vstim_100_850_ms.mat")
    _write_unit(tmp_path / "ar000002_1_a1_Vstim_100_850_ms.mat", gain=2.0, with_time=False,
                motion=(-0.4, -0.04, 0.04, 0.4))  # another session: other coherence levels, no time field
    _write_unit(tmp_path / "ar000003_1_a1_Vstim_100_850_ms.mat", skip={(1, 0, 0), (-1, 3, 3)})
    return tmp_path


def test_mante_round_trip(mante_folder):
    X, y, cond, info = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, stimulus_duration=150,
                                       context_only_duration=350, return_info=True)
    n_cond = 2 * 4 * 4
    # 250 ms of context-only period are prepended to the 100 ms recorded before the onset: 25 + 30 steps
    assert X.shape == (n_cond, 55, 4) and y.shape == (n_cond, 55, 3)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert np.isnan(y[:, :25]).all()
    np.testing.assert_allclose(info["time"][[0, 25, -1]], [-350, -100, 190])
    assert info["periods"] == {"context_only": (0, 35), "stimulus": (35, 50), "delay": (50, 55)}
    assert info["unit_names"][0] == "ar000001_1_a1_Vstim_100_850_ms"
    # every recorded bin holds the rate of the condition's spike train, error trials left out
    for k in range(n_cond):
        ctx, i, j = cond["context"][k], cond["motion_level"][k], cond["color_level"][k]
        ranks = [-2, -1, 1, 2]
        expected = 1000.0 / _period(ctx, ranks.index(i), ranks.index(j))
        np.testing.assert_allclose(y[k, 25:, 0], expected, rtol=1e-5)
        np.testing.assert_allclose(y[k, 25:, 1], 2 * expected, rtol=1e-5)
    # rank matching pools the sessions; the reported coherence is the mean over the units with the condition
    everywhere = info["n_trials"].min(axis=1) > 0
    assert set(np.round(cond["motion_coherence"][everywhere], 4)) == {-0.4667, -0.0467, 0.0467, 0.4667}
    assert set(np.round(cond["motion_coherence"][~everywhere], 4)) == {-0.45, 0.45}
    np.testing.assert_allclose(np.unique(cond["color_coherence"]), COLOUR)


def test_mante_pseudo_inputs(mante_folder):
    X, _, cond = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, stimulus_duration=150,
                                 input_scale=2.0, context_scale=0.5)
    motion_ctx = cond["context"] == 1
    np.testing.assert_array_equal(X[motion_ctx, :, 2], 0.5)  # the cue from the first to the last step
    np.testing.assert_array_equal(X[motion_ctx, :, 3], 0.0)
    np.testing.assert_array_equal(X[~motion_ctx, :, 3], 0.5)
    np.testing.assert_allclose(X[:, 35:50, 0], 2.0 * cond["motion_coherence"][:, None] * np.ones(15), rtol=1e-6)
    np.testing.assert_allclose(X[:, 35:50, 1], 2.0 * cond["color_coherence"][:, None] * np.ones(15), rtol=1e-6)
    assert np.all(X[:, :35, :2] == 0) and np.all(X[:, 50:, :2] == 0)
    relevant = np.where(motion_ctx, cond["motion_coherence"], cond["color_coherence"])
    np.testing.assert_array_equal(cond["choice"], np.sign(relevant))


def test_mante_missing_conditions_nan_or_drop(mante_folder):
    X, y, cond, info = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, stimulus_duration=150,
                                       return_info=True)
    missing = np.isnan(y[:, 30, 2])
    assert missing.sum() == 2
    lacking = {(c, m, k) for c, m, k in zip(cond["context"][missing], cond["motion_level"][missing],
                                            cond["color_level"][missing])}
    assert lacking == {(1, -2, -2), (-1, 2, 2)}
    assert (info["n_trials"][~missing, 2] == 2).all() and (info["n_trials"][missing, 2] == 0).all()
    assert not np.isnan(y[:, 25:, :2]).any()
    _, y_drop, _, info_drop = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, missing="drop",
                                              return_info=True)
    assert y_drop.shape[-1] == 2 and "ar000003_1_a1_Vstim_100_850_ms" not in info_drop["unit_names"]
    # needing more trials than recorded empties every condition
    with pytest.raises(ValueError, match="min_trials=3"):
        load_mante_2013(mante_folder, min_trials=3)


def test_mante_error_trials_and_values(mante_folder):
    _, y_all, _ = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, correct_only=False)
    _, y_ok, _ = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0)
    assert np.nanmean(y_all) > np.nanmean(y_ok)  # the error trials fire at every ms
    _, y_val, cond = load_mante_2013(mante_folder, bin_size=10, smoothing_sigma=0, coherence="value")
    # raw values: the two sessions' motion levels no longer match, each condition comes from fewer units
    assert len(cond["context"]) == 2 * 8 * 4
    assert np.isnan(y_val[:, 30, 1]).sum() == 2 * 4 * 4


def test_mante_smoothing_and_binning(mante_folder):
    _, y5, _ = load_mante_2013(mante_folder, bin_size=5, smoothing_sigma=20, stimulus_duration=150)
    _, y20, _ = load_mante_2013(mante_folder, bin_size=20, smoothing_sigma=20, stimulus_duration=150)
    assert y5.shape[1] == 50 + 60 and y20.shape[1] == 13 + 15
    # smoothing and binning keep the mean rate of a constant-rate condition
    np.testing.assert_allclose(np.nanmean(y5[:, 50:, 0], axis=1), np.nanmean(y20[:, 13:, 0], axis=1), rtol=1e-3)


def test_mante_errors(tmp_path, mante_folder):
    with pytest.raises(ValueError, match="folder"):
        load_mante_2013(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="pattern"):
        load_mante_2013(mante_folder, pattern="*.txt")
    with pytest.raises(ValueError, match="color_field"):
        load_mante_2013(mante_folder, color_field="stim_colour")
    with pytest.raises(ValueError, match="coherence"):
        load_mante_2013(mante_folder, coherence="nearest")
    with pytest.raises(ValueError, match="bin_size"):
        load_mante_2013(mante_folder, bin_size=0)
    bad = tmp_path / "bad"
    bad.mkdir()
    savemat(str(bad / "x.mat"), {"neuron": np.zeros(3)})
    with pytest.raises(ValueError, match="'unit'"):
        load_mante_2013(bad)


# -- NWB -------------------------------------------------------------------------------------------------------


@pytest.fixture
def nwb_session(tmp_path, write_nwb):
    """Three trials of 1 s with a coherence, a choice and a stimulus from 0.2 to 0.6 s; two units."""
    starts, cohs = [0.0, 2.0, 4.0], [0.5, -0.2, 0.1]
    trials = [{"start_time": start, "stop_time": start + 1.0, "coherence": coh, "choice": np.sign(coh),
               "stim_on": start + 0.2, "stim_off": start + 0.6} for start, coh in zip(starts, cohs)]
    # unit 0: one spike in every 100 ms bin of each trial; unit 1: 3 spikes in [100, 200) ms of trial 1 only
    unit0 = np.concatenate([start + 0.05 + 0.1 * np.arange(10) for start in starts])
    columns = {"coherence": "signed coherence", "choice": "+1/-1", "stim_on": "stimulus onset (s)",
               "stim_off": "stimulus offset (s)"}
    return write_nwb(tmp_path / "session.nwb", trials, [unit0, [2.11, 2.12, 2.13]], columns)


def test_nwb_round_trip(nwb_session):
    path = nwb_session
    X, y, cond = load_nwb_trials(path, window=(0, 1000), bin_size=100, input_columns=["coherence"],
                                 input_start="stim_on", input_stop="stim_off")
    assert X.shape == (3, 10, 1) and y.shape == (3, 10, 2)
    assert X.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(y[..., 0], 10.0)  # 1 spike per 100 ms
    expected = np.zeros((3, 10))
    expected[1, 1] = 30.0
    np.testing.assert_allclose(y[..., 1], expected)
    np.testing.assert_allclose(X[:, 2:6, 0], np.array([[0.5], [-0.2], [0.1]]) * np.ones(4), rtol=1e-6)
    assert np.all(X[:, :2] == 0) and np.all(X[:, 6:] == 0)
    np.testing.assert_allclose(cond["coherence"], [0.5, -0.2, 0.1])
    np.testing.assert_array_equal(cond["choice"], [1, -1, 1])
    assert {"start_time", "stop_time"} <= set(cond)


def test_nwb_alignment_window_masking_and_smoothing(nwb_session):
    path = nwb_session
    X, y, cond = load_nwb_trials(path, align_to="stim_on", window=(-400, 1000), bin_size=200,
                                 mask_outside_trial=True, units=[1], condition_columns=["coherence"])
    assert X.shape == (3, 7, 0) and y.shape == (3, 7, 1) and list(cond) == ["coherence"]
    # bins starting before the trial start (-400 ms from stim_on is -200 ms) or at its stop (+1000 ms) are NaN
    assert np.isnan(y[:, 0]).all() and np.isnan(y[:, 6]).all() and not np.isnan(y[:, 1:6]).any()
    np.testing.assert_allclose(y[1, 1:6, 0], [15.0, 0, 0, 0, 0])
    _, smooth, _ = load_nwb_trials(path, window=(0, 1000), bin_size=10, smoothing_sigma=30.0, units=[1])
    raw = load_nwb_trials(path, window=(0, 1000), bin_size=10, units=[1])[1]
    np.testing.assert_allclose(smooth[1].sum(), raw[1].sum(), rtol=1e-2)  # renormalised near the edges
    assert smooth[1].max() < raw[1].max()


def test_nwb_errors(nwb_session):
    path = nwb_session
    with pytest.raises(ValueError, match="input_columns='speed'"):
        load_nwb_trials(path, input_columns=["speed"])
    with pytest.raises(ValueError, match="align_to"):
        load_nwb_trials(path, align_to="go_cue")
    with pytest.raises(ValueError, match="window"):
        load_nwb_trials(path, window=(100, 0))
    with pytest.raises(ValueError, match="units"):
        load_nwb_trials(path, units=[5])
