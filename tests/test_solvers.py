"""ALS and MCMC on block-structured input, against naive references."""

import numpy as np
import pytest
import scipy.sparse as sp

from fmrec.kernels import fm_predict
from fmrec.model import FactorizationMachine
from fmrec.solvers.base import FMParams
from fmrec.solvers.blocks import Block, Blocks
from fmrec.solvers.coordinate import CoordinateSolver, rating_order
from fmrec.solvers.training import stack_samples


def random_blocks(
    seed=0, n_ratings=120, n_users=9, n_items=7, n_months=3, nested=False
):
    """Three blocks like the recommender's: users, items and months.

    With ``nested=True`` the third block has one row per (user, month) pair,
    numbered in user order, like the user-day rows of ``user_day``.
    """
    rng = np.random.default_rng(seed)
    user_block = sp.random(n_users, 5, density=0.5, random_state=seed, format="csr")
    user_block = sp.hstack([sp.identity(n_users), user_block], format="csr")
    item_block = sp.random(n_items, 4, density=0.5, random_state=seed + 1, format="csr")
    item_block = sp.hstack([sp.identity(n_items), item_block], format="csr")
    time_block = sp.identity(n_months, format="csr")
    users = rng.integers(0, n_users, n_ratings)
    items = rng.integers(0, n_items, n_ratings)
    months = rng.integers(0, n_months, n_ratings)
    if nested:
        pairs, months = np.unique(users * n_months + months, return_inverse=True)
        time_block = sp.hstack(
            [
                sp.identity(pairs.size, format="csr"),
                sp.csr_matrix(np.eye(n_months)[pairs % n_months]),
            ],
            format="csr",
        )
    item_offset = user_block.shape[1]
    time_offset = item_offset + item_block.shape[1]
    blocks = Blocks(
        [
            Block(user_block, users, 0),
            Block(item_block, items, item_offset),
            Block(time_block, months, time_offset),
        ]
    )
    y = rng.normal(3.0, 1.0, n_ratings)
    return blocks, y


def penalised_loss(X, y, params, reg_w, reg_v, reg_bias=0.0):
    predicted = fm_predict(
        X.indptr.astype(np.int64),
        X.indices.astype(np.int32),
        X.data,
        params.w0[0],
        params.w,
        params.V,
    )
    error = y - predicted
    # reg_w and reg_v are numbers or one penalty per feature.
    penalty = reg_bias * params.w0[0] ** 2 + reg_w * params.w @ params.w
    factors = np.sum(np.reshape(reg_v, (-1, 1)) * params.V**2)
    return error @ error + penalty + factors


def naive_coordinate_step(X, y, params, setter, reg_w, reg_v, reg_bias=0.0):
    """Minimise the penalised loss along one coordinate by fitting a parabola.

    The loss is quadratic in any single FM parameter, so three evaluations
    determine it exactly.
    """
    values = []
    for theta in (0.0, 1.0, 2.0):
        setter(theta)
        values.append(penalised_loss(X, y, params, reg_w, reg_v, reg_bias))
    curvature = values[0] - 2 * values[1] + values[2]
    slope = values[1] - values[0] - curvature / 2
    setter(-slope / curvature)


def naive_als_sweep(X, y, params, offsets_and_widths, reg_w, reg_v, reg_bias=0.0):
    """One ALS sweep in fmrec's order: bias, weights by block, factor by factor."""

    def set_w0(theta):
        params.w0[0] = theta

    naive_coordinate_step(X, y, params, set_w0, reg_w, reg_v, reg_bias)

    for offset, width in offsets_and_widths:
        for j in range(offset, offset + width):

            def set_w(theta, j=j):
                params.w[j] = theta

            naive_coordinate_step(X, y, params, set_w, reg_w, reg_v)
    for f in range(params.V.shape[1]):
        for offset, width in offsets_and_widths:
            for j in range(offset, offset + width):

                def set_v(theta, j=j, f=f):
                    params.V[j, f] = theta

                naive_coordinate_step(X, y, params, set_v, reg_w, reg_v)


@pytest.mark.parametrize("n_columns", [4, 1100])
def test_blocks_predict_matches_materialised_rows(n_columns):
    # 1100 columns are predicted in three passes of at most 512.
    blocks, _ = random_blocks()
    rng = np.random.default_rng(1)
    n = blocks.n_features
    w0, w, V = 0.3, rng.normal(size=n), rng.normal(size=(n, n_columns))
    X = blocks.to_sparse()
    expected = fm_predict(
        X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data, w0, w, V
    )
    # Sums of about 1100 terms of size 1 round differently in another order.
    np.testing.assert_allclose(blocks.predict(w0, w, V), expected, rtol=1e-10)


def test_blocks_with_missing_rows_predict_zero_part():
    blocks, _ = random_blocks()
    index = blocks.blocks[1].index.copy()
    index[::3] = -1
    blocks.blocks[1] = blocks.blocks[1].with_index(index)
    rng = np.random.default_rng(2)
    n = blocks.n_features
    w, V = rng.normal(size=n), rng.normal(size=(n, 3))
    X = blocks.to_sparse()
    assert X[0, blocks.blocks[1].offset :].nnz == X[0, blocks.blocks[2].offset :].nnz
    expected = fm_predict(
        X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data, 0.0, w, V
    )
    np.testing.assert_allclose(blocks.predict(0.0, w, V), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "reg_w, reg_v, reg_bias, nested",
    [
        (0.5, 0.8, 0.0, False),
        (2.0, 0.1, 0.0, False),
        (0.5, 0.8, 40.0, False),
        (0.5, 0.8, 0.0, True),
    ],
)
def test_als_sweep_minimises_each_coordinate(reg_w, reg_v, reg_bias, nested):
    blocks, y = random_blocks(nested=nested)
    n_factors = 3
    groups = np.zeros(blocks.n_features, dtype=np.int64)
    rng = np.random.default_rng(3)
    start = FMParams.initial(blocks.n_features, n_factors, 0.3, rng)
    start.w[:] = rng.normal(0, 0.2, start.w.size)

    fast = start.copy()
    solver = CoordinateSolver(
        blocks,
        y,
        groups,
        1,
        n_factors,
        sample=False,
        reg_w=np.array([reg_w]),
        reg_v=np.array([reg_v]),
        reg_bias=reg_bias,
    )
    solver.iterate(fast, np.random.default_rng(0))
    # The nested block's sums take the in-order path of the kernels.
    assert solver.in_order.tolist() == [True, False, nested]

    naive = start.copy()
    layout = [(b.offset, b.n_columns) for b in blocks.blocks]
    naive_als_sweep(blocks.to_sparse(), y, naive, layout, reg_w, reg_v, reg_bias)

    assert fast.w0[0] == pytest.approx(naive.w0[0], abs=1e-9)
    np.testing.assert_allclose(fast.w, naive.w, atol=1e-9)
    np.testing.assert_allclose(fast.V, naive.V, atol=1e-9)


def block_groups(blocks):
    """Return the group of every feature column: the number of its block."""
    return np.concatenate(
        [np.full(b.n_columns, g, dtype=np.int64) for g, b in enumerate(blocks.blocks)]
    )


def test_als_sweep_with_penalty_per_group():
    blocks, y = random_blocks(seed=6)
    # Group 0: the user block, 1: the item block, 2: the time block.
    groups = block_groups(blocks)
    reg_w, reg_v = np.array([0.3, 3.0, 30.0]), np.array([5.0, 0.2, 1.5])
    rng = np.random.default_rng(4)
    start = FMParams.initial(blocks.n_features, 3, 0.3, rng)
    start.w[:] = rng.normal(0, 0.2, start.w.size)

    fast = start.copy()
    solver = CoordinateSolver(
        blocks, y, groups, 3, 3, sample=False, reg_w=reg_w, reg_v=reg_v
    )
    solver.iterate(fast, np.random.default_rng(0))

    naive = start.copy()
    layout = [(b.offset, b.n_columns) for b in blocks.blocks]
    X = blocks.to_sparse()
    naive_als_sweep(X, y, naive, layout, reg_w[groups], reg_v[groups])

    assert fast.w0[0] == pytest.approx(naive.w0[0], abs=1e-9)
    np.testing.assert_allclose(fast.w, naive.w, atol=1e-9)
    np.testing.assert_allclose(fast.V, naive.V, atol=1e-9)


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_model_passes_penalty_per_group(solver):
    blocks, y = random_blocks(seed=7)
    groups = block_groups(blocks)
    settings = dict(
        solver=solver, n_epochs=3, burn_in=1, early_stopping=False, random_state=0
    )

    def fit(reg_w, reg_v):
        model = FactorizationMachine(2, reg_w=reg_w, reg_v=reg_v, **settings)
        return model.fit(blocks, y, groups=groups).predict(blocks)

    same = fit([2.0, 2.0, 2.0], (0.5, 0.5, 0.5))
    np.testing.assert_array_equal(same, fit(2.0, 0.5))
    assert not np.array_equal(fit([2.0, 40.0, 2.0], 0.5), same)
    with pytest.raises(ValueError, match="reg_v has 2 values, but the features have 3"):
        fit(2.0, [0.5, 0.5])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(solver="sgd", reg_w=[0.1, 0.2]), "a sequence with one number per"),
        (dict(solver="als", reg_v=[[1.0]]), "solver='als'"),
        (dict(solver="als", reg_v=[]), "Got \\[\\]"),
        (dict(solver="als", reg_w=[1.0, -1.0]), "reg_w"),
    ],
)
def test_model_rejects_bad_penalty_lists(params, message):
    blocks, y = random_blocks(seed=8)
    model = FactorizationMachine(2, n_epochs=2, early_stopping=False, **params)
    with pytest.raises(ValueError, match=message):
        model.fit(blocks, y)


def test_rating_order_sorts_nested_blocks():
    blocks, _ = random_blocks(seed=5, nested=True)
    shuffled = blocks.take(np.random.default_rng(0).permutation(blocks.n_rows))
    ordered = shuffled.take(rating_order(shuffled))
    users, items, pairs = (block.index for block in ordered.blocks)
    assert np.all(np.diff(users) >= 0)
    assert np.all(np.diff(pairs) >= 0)
    assert not np.all(np.diff(items) >= 0)
    # A block that is not nested (months shared by users) is left alone.
    plain, _ = random_blocks(seed=5)
    order = rating_order(plain)
    np.testing.assert_array_equal(
        order, np.argsort(plain.blocks[0].index, kind="stable")
    )


def hand_written_blocks():
    """Three ratings of two users (features 0, 1) for two items (2, 3)."""
    users = Block(sp.identity(2, format="csr"), np.array([0, 0, 1]), 0)
    items = Block(sp.identity(2, format="csr"), np.array([0, 1, 0]), 2)
    return Blocks([users, items]), np.array([4.0, 2.0, 5.0])


def hand_written_start():
    """w0 = 0.5, w = (0.1, -0.2, 0.3, 0) and one factor v = (1, 0, 0.5, 2).

    The predictions are 0.5 + 0.1 + 0.3 + 1 * 0.5 = 1.4, 0.5 + 0.1 + 0 +
    1 * 2 = 2.6 and 0.5 - 0.2 + 0.3 + 0 * 0.5 = 0.6, so the residuals are
    2.6, -0.6 and 4.4, which sum to 6.4.
    """
    w = np.array([0.1, -0.2, 0.3, 0.0])
    V = np.array([[1.0], [0.0], [0.5], [2.0]])
    return FMParams(np.array([0.5]), w, V)


@pytest.mark.parametrize(
    "reg_bias, expected",
    [
        # (sum of residuals + n w0_old) / (n + reg_bias) = (6.4 + 1.5) / (3 + r0)
        (0.0, 7.9 / 3.0),
        (2.0, 7.9 / 5.0),
        (37.0, 7.9 / 40.0),
    ],
)
def test_als_bias_update_is_penalised_closed_form(reg_bias, expected):
    blocks, y = hand_written_blocks()
    params = hand_written_start()
    groups = np.zeros(4, dtype=np.int64)
    solver = CoordinateSolver(
        blocks,
        y,
        groups,
        1,
        1,
        sample=False,
        reg_w=np.ones(1),
        reg_v=np.ones(1),
        reg_bias=reg_bias,
    )
    # The sweep updates the bias first, and no later step changes it.
    solver.iterate(params, np.random.default_rng(0))
    assert params.w0[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("sample", [False, True])
def test_coordinate_sweeps_skip_fixed_terms(sample):
    blocks, y = hand_written_blocks()
    groups = np.zeros(4, dtype=np.int64)
    start = hand_written_start()
    start.w0[0] = 0.0
    start.w[:] = 0.0
    params = start.copy()
    solver = CoordinateSolver(
        blocks,
        y,
        groups,
        1,
        1,
        sample=sample,
        reg_w=np.ones(1),
        reg_v=np.ones(1),
        reg_bias=2.0,
        fit_bias=False,
        fit_linear=False,
    )
    rng = np.random.default_rng(0)
    for _ in range(5):
        solver.iterate(params, rng)
    assert params.w0[0] == 0.0
    np.testing.assert_array_equal(params.w, np.zeros(4))
    # The factors still move, and the residuals follow them exactly.
    assert not np.array_equal(params.V, start.V)
    predicted = solver.data.predict(0.0, params.w, params.V)
    np.testing.assert_allclose(solver.residuals, solver.y - predicted, atol=1e-12)


def test_als_without_bias_keeps_it_zero():
    blocks, y, _ = generate_fm_data(seed=9, n_ratings=600)
    model = FactorizationMachine(
        2,
        solver="als",
        fit_bias=False,
        reg_bias=5.0,
        n_epochs=6,
        early_stopping=False,
        random_state=0,
    ).fit(blocks, y)
    assert model.w0_ == 0.0
    # Without the bias the linear weights carry the mean rating of about 3.
    assert model.w_.mean() > 0.5


def test_mcmc_bias_prior_uses_reg_bias():
    """MCMC draws the bias from N(0, 1/reg_bias) times the likelihood.

    The model is the bias alone (no factors, no linear weights) on 2000
    targets from N(3, 1). With a flat prior (reg_bias = 0) the posterior is
    N(mean(y), 1/(alpha n)) with alpha near 1, a standard deviation of about
    0.022, so the sample mean of w0 lies within 0.1 of mean(y). With
    reg_bias = 1e9 the posterior mean is alpha n mean(y) / (alpha n + 1e9),
    about 6e-6, and the standard deviation 1 / sqrt(1e9 + alpha n), about
    3e-5, so w0 stays within 1e-3 of 0.
    """
    rng = np.random.default_rng(10)
    n = 2000
    X = sp.csr_matrix(np.ones((n, 1)))
    y = rng.normal(3.0, 1.0, n)
    kwargs = dict(
        n_factors=0,
        solver="mcmc",
        fit_linear=False,
        n_epochs=60,
        burn_in=10,
        n_kept_samples=50,
        random_state=0,
    )
    flat = FactorizationMachine(reg_bias=0.0, **kwargs).fit(X, y)
    tight = FactorizationMachine(reg_bias=1e9, **kwargs).fit(X, y)
    assert flat.w0_ == pytest.approx(y.mean(), abs=0.1)
    assert abs(tight.w0_) < 1e-3
    np.testing.assert_array_equal(flat.w_, np.zeros(1))
    np.testing.assert_array_equal(tight.w_, np.zeros(1))


def test_als_rank_zero_matches_ridge_regression():
    """With no factors ALS converges to ridge regression with a free bias.

    The bias and the one-hot weights are strongly correlated, so coordinate
    descent converges slowly: 1000 sweeps bring it within about 1e-10.
    """
    blocks, y, _ = generate_fm_data(seed=11, n_users=8, n_items=6, n_ratings=200)
    X = blocks.to_sparse().toarray()
    reg_w = 0.7
    model = FactorizationMachine(
        0, solver="als", reg_w=reg_w, n_epochs=1000, early_stopping=False
    ).fit(blocks, y)
    # Solve [1 X]' [1 X] theta + diag(0, reg_w, ...) theta = [1 X]' y directly.
    design = np.hstack([np.ones((y.size, 1)), X])
    penalty = np.diag(np.r_[0.0, np.full(X.shape[1], reg_w)])
    theta = np.linalg.solve(design.T @ design + penalty, design.T @ y)
    assert model.V_.shape == (X.shape[1], 0)
    assert model.w0_ == pytest.approx(theta[0], abs=1e-8)
    np.testing.assert_allclose(model.w_, theta[1:], atol=1e-8)


def test_mcmc_rank_zero_fits_linear_model():
    blocks, y, truth = generate_fm_data(seed=12, n_ratings=1000)
    model = FactorizationMachine(
        0, solver="mcmc", n_epochs=30, burn_in=5, n_kept_samples=10, random_state=0
    ).fit(blocks, y)
    assert model.V_.shape == (blocks.n_features, 0)
    # The bias and linear terms alone explain part of the spread of y.
    error = model.predict(blocks) - y
    assert np.sqrt(np.mean(error**2)) < 0.9 * np.std(y)


def test_als_residuals_stay_exact():
    blocks, y = random_blocks(seed=4)
    groups = np.zeros(blocks.n_features, dtype=np.int64)
    params = FMParams.initial(blocks.n_features, 4, 0.1, np.random.default_rng(0))
    solver = CoordinateSolver(
        blocks, y, groups, 1, 4, sample=False, reg_w=np.ones(1), reg_v=np.ones(1)
    )
    for _ in range(3):
        solver.iterate(params, np.random.default_rng(0))
    predicted = solver.data.predict(params.w0[0], params.w, params.V)
    np.testing.assert_allclose(solver.residuals, solver.y - predicted, atol=1e-10)


def generate_fm_data(seed=0, n_users=60, n_items=50, n_ratings=3000, rank=2):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_ratings)
    items = rng.integers(0, n_items, n_ratings)
    blocks = Blocks(
        [
            Block(sp.identity(n_users, format="csr"), users, 0),
            Block(sp.identity(n_items, format="csr"), items, n_users),
        ]
    )
    w = rng.normal(0, 0.3, n_users + n_items)
    V = rng.normal(0, 0.7, (n_users + n_items, rank))
    truth = blocks.predict(3.0, w, V)
    y = truth + rng.normal(0, 0.3, n_ratings)
    return blocks, y, truth


def test_mcmc_posterior_mean_recovers_generating_model():
    blocks, y, truth = generate_fm_data()
    model = FactorizationMachine(
        2,
        solver="mcmc",
        n_epochs=120,
        burn_in=20,
        n_kept_samples=50,
        init_std=0.1,
        random_state=0,
    ).fit(blocks, y)
    error = model.decision_function(blocks) - truth
    # The noise has standard deviation 0.3; the posterior mean should sit much
    # closer to the noise-free predictions than the observations do.
    assert np.sqrt(np.mean(error**2)) < 0.15
    assert np.sqrt(np.mean((y - truth) ** 2)) > 0.28
    assert model.V_.shape == (blocks.n_features, 2 * 50)


def test_mcmc_stacked_factors_average_sample_predictions():
    blocks, y, _ = generate_fm_data(seed=1, n_ratings=500)
    samples = []
    rng = np.random.default_rng(5)
    for _ in range(4):
        n = blocks.n_features
        samples.append(
            FMParams(
                np.array([rng.normal()]), rng.normal(size=n), rng.normal(size=(n, 3))
            )
        )
    stacked = stack_samples(samples)
    average = np.mean([blocks.predict(s.w0[0], s.w, s.V) for s in samples], axis=0)
    combined = blocks.predict(stacked.w0[0], stacked.w, stacked.V)
    np.testing.assert_allclose(combined, average, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", ["als", "mcmc"])
def test_coordinate_solvers_are_reproducible(solver):
    blocks, y, _ = generate_fm_data(seed=2, n_ratings=800)
    kwargs = dict(
        solver=solver, n_epochs=8, burn_in=2, n_kept_samples=3, random_state=9
    )
    first = FactorizationMachine(3, **kwargs).fit(blocks, y)
    second = FactorizationMachine(3, **kwargs).fit(blocks, y)
    np.testing.assert_array_equal(first.V_, second.V_)
    np.testing.assert_array_equal(first.w_, second.w_)
    assert first.w0_ == second.w0_


def test_als_early_stopping_and_mcmc_history():
    blocks, y, _ = generate_fm_data(seed=3)
    als = FactorizationMachine(
        2, solver="als", reg_w=1.0, reg_v=1.0, n_epochs=50, random_state=0
    ).fit(blocks, y)
    valid = [record.valid_rmse for record in als.history_]
    assert als.best_epoch_ == int(np.argmin(valid)) + 1
    mcmc = FactorizationMachine(
        2, solver="mcmc", n_epochs=10, burn_in=4, n_kept_samples=3, random_state=0
    )
    mcmc.fit(
        blocks.take(np.arange(2500)),
        y[:2500],
        X_valid=blocks.take(np.arange(2500, 3000)),
        y_valid=y[2500:],
    )
    kept_so_far = [record.valid_rmse for record in mcmc.history_]
    assert kept_so_far[:4] == [None] * 4
    assert all(value is not None for value in kept_so_far[4:])


def test_mcmc_rejects_burn_in_past_iterations():
    blocks, y, _ = generate_fm_data(n_ratings=100)
    model = FactorizationMachine(2, solver="mcmc", n_epochs=10, burn_in=10)
    with pytest.raises(ValueError, match="burn_in=10 leaves no MCMC samples"):
        model.fit(blocks, y)


def test_unknown_solver_is_named():
    blocks, y, _ = generate_fm_data(n_ratings=100)
    with pytest.raises(ValueError, match="'solver' parameter"):
        FactorizationMachine(solver="newton").fit(blocks, y)


def test_als_accepts_plain_sparse_matrix():
    blocks, y, truth = generate_fm_data(seed=6)
    X = blocks.to_sparse()
    model = FactorizationMachine(
        2,
        solver="als",
        reg_w=0.5,
        reg_v=0.5,
        n_epochs=30,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(model.predict(X), model.predict(blocks), rtol=1e-12)
    assert np.sqrt(np.mean((model.predict(X) - truth) ** 2)) < 0.3


@pytest.mark.parametrize("sample", [False, True])
def test_probit_solver_separates_classes(sample):
    blocks, _, truth = generate_fm_data(seed=7, n_ratings=3000)
    labels = np.where(truth > np.median(truth), 1.0, -1.0)
    groups = np.zeros(blocks.n_features, dtype=np.int64)
    params = FMParams.initial(blocks.n_features, 2, 0.1, np.random.default_rng(0))
    solver = CoordinateSolver(
        blocks,
        labels,
        groups,
        1,
        2,
        sample=sample,
        reg_w=np.full(1, 1.0),
        reg_v=np.full(1, 1.0),
        probit=True,
    )
    rng = np.random.default_rng(1)
    for _ in range(30):
        solver.iterate(params, rng)
    margin = blocks.predict(params.w0[0], params.w, params.V)
    accuracy = np.mean(np.sign(margin) == labels)
    assert accuracy > 0.85
    # Latent targets sit on the side of 0 their label gives.
    assert np.all(np.sign(solver.y) == solver.labels)


def probit_als_latent(predicted):
    """Return a probit ALS solver after one latent update at these margins."""
    blocks, _, truth = generate_fm_data(seed=8, n_ratings=200)
    labels = np.where(truth > np.median(truth), 1.0, -1.0)
    groups = np.zeros(blocks.n_features, dtype=np.int64)
    solver = CoordinateSolver(
        blocks,
        labels,
        groups,
        1,
        2,
        sample=False,
        reg_w=np.ones(1),
        reg_v=np.ones(1),
        probit=True,
    )
    solver.residuals = solver.y - predicted
    solver._update_latent(np.random.default_rng(0))
    return solver


def test_probit_als_latent_mean_is_truncated_normal_mean():
    predicted = np.linspace(-2, 2, 200)
    solver = probit_als_latent(predicted)
    from scipy.stats import norm

    positive = solver.labels > 0
    expected = np.where(
        positive,
        predicted + norm.pdf(predicted) / norm.cdf(predicted),
        predicted - norm.pdf(predicted) / norm.cdf(-predicted),
    )
    np.testing.assert_allclose(solver.y, expected, rtol=1e-9)


def test_probit_als_latent_mean_in_far_tails():
    predicted = np.linspace(-30, 30, 200)
    solver = probit_als_latent(predicted)
    from scipy.stats import truncnorm

    positive = solver.labels > 0
    low = np.where(positive, -predicted, -np.inf)
    high = np.where(positive, np.inf, -predicted)
    expected = predicted + truncnorm.mean(low, high)
    assert np.all(np.isfinite(solver.y))
    np.testing.assert_allclose(solver.y, expected, rtol=1e-7, atol=1e-9)


def test_regularization_defaults_depend_on_solver():
    assert FactorizationMachine(solver="sgd").regularization() == (0.02, 0.05)
    assert FactorizationMachine(solver="als").regularization() == (1.0, 20.0)
    assert FactorizationMachine(solver="mcmc").regularization() == (1.0, 1.0)
    assert FactorizationMachine(solver="als", reg_v=3).regularization() == (1.0, 3.0)


def test_early_stopping_log_names_metric(caplog):
    from fmrec.solvers.training import LoopSettings, run_epochs

    params = FMParams.initial(3, 2, 0.1, np.random.default_rng(0))
    settings = LoopSettings("sgd", 10, 1, False, "", metric="log loss")
    scores = iter([0.5, 0.7, 0.9])
    with caplog.at_level("INFO", logger="fmrec.solvers.training"):
        result = run_epochs(settings, params, lambda: 1.0, lambda _: next(scores))
    assert result.best_epoch == 1
    assert len(result.history) == 2
    assert "validation log loss 0.5000" in caplog.text
