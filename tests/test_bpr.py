"""BPR: the kernel step, negative sampling, the solver and the ranker."""

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numba import njit

from fmrec.exceptions import TrainingDivergedError
from fmrec.kernels import fm_predict
from fmrec.kernels.bpr import bpr_epoch, sample_negative
from fmrec.ranking import BPRRanker
from fmrec.ranking_data import evaluate_top_k, load_ranking_protocol
from fmrec.solvers.base import FMParams
from fmrec.solvers.bpr import BPRSolver, PairData

# --- helpers ----------------------------------------------------------------------


def naive_fm(x, w0, w, V):
    """The FM equation with the O(k n^2) double sum over feature pairs."""
    total = w0 + float(w @ x)
    for j in range(x.size):
        for m in range(j + 1, x.size):
            total += float(V[j] @ V[m]) * x[j] * x[m]
    return total


def fm_gradient(x, w, V):
    """Gradient of the FM output in w and V: x_l and x_l (q - v_l x_l)."""
    q = x @ V
    return x.copy(), x[:, None] * (q[None, :] - V * x[:, None])


def kernel_arrays(data: PairData):
    user, item, pos = data.user_block, data.item_block, data.positives
    return (
        user.indptr.astype(np.int64),
        user.indices.astype(np.int64),
        user.data,
        data.user_offset,
        item.indptr.astype(np.int64),
        item.indices.astype(np.int64),
        item.data,
        data.item_offset,
        pos.indptr.astype(np.int64),
        pos.indices.astype(np.int64),
    )


def full_row(data: PairData, user, item):
    x = np.zeros(data.n_features)
    u = data.user_block[user]
    x[data.user_offset + u.indices] += u.data
    i = data.item_block[item]
    x[data.item_offset + i.indices] += i.data
    return x


def shared_feature_data(n_users=1, positives=((0,),), n_items=2, seed=0):
    """Users with an id and an attribute; items with an id and a shared genre."""
    rng = np.random.default_rng(seed)
    user_block = sp.hstack(
        [sp.identity(n_users), sp.csr_matrix(rng.uniform(0.2, 1.0, (n_users, 1)))]
    ).tocsr()
    genre = sp.csr_matrix(rng.uniform(0.2, 1.0, (n_items, 1)))
    item_block = sp.hstack([sp.identity(n_items), genre]).tocsr()
    rows = [u for u, items in enumerate(positives) for _ in items]
    cols = [i for items in positives for i in items]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), (n_users, n_items))
    return PairData(user_block, item_block, 0, user_block.shape[1], matrix)


# --- the kernel step ----------------------------------------------------------------


def test_bpr_step_matches_finite_difference_gradient():
    data = shared_feature_data()
    rng = np.random.default_rng(1)
    w = rng.normal(size=data.n_features)
    V = rng.normal(scale=0.5, size=(data.n_features, 3))
    reg_w, reg_v = 0.3, 0.2
    x_pos, x_neg = full_row(data, 0, 0), full_row(data, 0, 1)
    user_columns = np.arange(data.item_offset)

    def objective(w_, V_):
        d = naive_fm(x_pos, 0.0, w_, V_) - naive_fm(x_neg, 0.0, w_, V_)
        # Linear penalty per item-row entry, factor penalty per row entry.
        item_entries = np.r_[
            np.flatnonzero(x_pos[data.item_offset :]),
            np.flatnonzero(x_neg[data.item_offset :]),
        ]
        item_entries = item_entries + data.item_offset
        factor_entries = np.r_[np.flatnonzero(x_pos[user_columns]), item_entries]
        penalty = reg_w * np.sum(w_[item_entries] ** 2)
        penalty += reg_v * np.sum(V_[factor_entries] ** 2)
        return np.log1p(np.exp(-d)) + 0.5 * penalty

    new_w, new_V = w.copy(), V.copy()
    # With learning_rate=1 the step equals the gradient exactly.
    loss, n_updated, n_exact = bpr_epoch(
        *kernel_arrays(data),
        np.array([0]),
        np.array([0]),
        np.zeros(0),
        8,
        1,
        new_w,
        new_V,
        1.0,
        reg_w,
        reg_v,
        0,
    )
    assert n_updated == 1
    assert n_exact == 0
    d = naive_fm(x_pos, 0.0, w, V) - naive_fm(x_neg, 0.0, w, V)
    assert loss == pytest.approx(np.log1p(np.exp(-d)), rel=1e-12)
    eps = 1e-6
    for j in range(data.n_features):
        step = np.zeros_like(w)
        step[j] = eps
        numeric = (objective(w + step, V) - objective(w - step, V)) / (2 * eps)
        assert w[j] - new_w[j] == pytest.approx(numeric, abs=1e-7)
        for f in range(V.shape[1]):
            step = np.zeros_like(V)
            step[j, f] = eps
            numeric = (objective(w, V + step) - objective(w, V - step)) / (2 * eps)
            assert V[j, f] - new_V[j, f] == pytest.approx(numeric, abs=1e-7)


def test_bpr_epoch_matches_python_loop():
    # Each user lacks exactly one item, so every negative draw is determined.
    n_items = 5
    lacking = [4, 0, 2, 2]
    positives = tuple(tuple(i for i in range(n_items) if i != gap) for gap in lacking)
    data = shared_feature_data(4, positives, n_items, seed=2)
    rng = np.random.default_rng(3)
    w = rng.normal(scale=0.3, size=data.n_features)
    V = rng.normal(scale=0.3, size=(data.n_features, 4))
    users = np.repeat(np.arange(4), n_items - 1)
    items = np.array([i for items in positives for i in items])
    order = rng.permutation(users.size)
    lr, reg_w, reg_v = 0.05, 0.02, 0.03

    fast_w, fast_V = w.copy(), V.copy()
    loss, n_updated, _ = bpr_epoch(
        *kernel_arrays(data),
        users[order],
        items[order],
        np.zeros(0),
        8,
        1,
        fast_w,
        fast_V,
        lr,
        reg_w,
        reg_v,
        7,
    )

    ref_w, ref_V = w.copy(), V.copy()
    ref_loss = 0.0
    item_part = np.arange(data.n_features) >= data.item_offset
    for t in order:
        user, positive, negative = users[t], items[t], lacking[users[t]]
        x_pos, x_neg = full_row(data, user, positive), full_row(data, user, negative)
        d = naive_fm(x_pos, 0.0, ref_w, ref_V) - naive_fm(x_neg, 0.0, ref_w, ref_V)
        ref_loss += np.log1p(np.exp(-d))
        g = 1.0 / (1.0 + np.exp(d))
        gw_pos, gV_pos = fm_gradient(x_pos, ref_w, ref_V)
        gw_neg, gV_neg = fm_gradient(x_neg, ref_w, ref_V)
        linear_count = ((x_pos != 0) & item_part) + ((x_neg != 0) & item_part) * 1.0
        factor_count = (x_pos != 0) + ((x_neg != 0) & item_part) * 1.0
        grad_w = -g * (gw_pos - gw_neg) * item_part + reg_w * ref_w * linear_count
        grad_V = -g * (gV_pos - gV_neg) + reg_v * ref_V * factor_count[:, None]
        ref_w = ref_w - lr * grad_w
        ref_V = ref_V - lr * grad_V

    assert n_updated == users.size
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(fast_w, ref_w, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(fast_V, ref_V, rtol=1e-11, atol=1e-14)


def test_bpr_epoch_is_reproducible_under_a_seed():
    positives = ((0, 3), (1,), (2, 4, 5))
    data = shared_feature_data(3, positives, 8, seed=4)
    users = np.array([0, 0, 1, 2, 2, 2])
    items = np.array([0, 3, 1, 2, 4, 5])
    results = []
    for seed in (11, 11, 12):
        w = np.zeros(data.n_features)
        V = np.random.default_rng(0).normal(size=(data.n_features, 2))
        bpr_epoch(
            *kernel_arrays(data),
            users,
            items,
            np.zeros(0),
            8,
            2,
            w,
            V,
            0.1,
            0.0,
            0.0,
            seed,
        )
        results.append(V)
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


# --- negative sampling ----------------------------------------------------------


@njit(cache=True)
def draw_many(seed, positives, n_items, cumulative, max_rejections, n):
    np.random.seed(seed)
    items = np.empty(n, dtype=np.int64)
    exact = np.zeros(n, dtype=np.bool_)
    for t in range(n):
        items[t], exact[t] = sample_negative(
            positives, 0, positives.size, n_items, cumulative, max_rejections
        )
    return items, exact


def assert_frequencies(items, expected, n_items):
    """Compare counts with expected probabilities within 5 binomial sigmas."""
    counts = np.bincount(items, minlength=n_items)
    n = items.size
    sigma = np.sqrt(n * expected * (1 - expected))
    assert np.all(np.abs(counts - n * expected) <= 5 * sigma + 1e-9)


@pytest.mark.parametrize("max_rejections", [0, 1, 32])
def test_uniform_sampling_covers_the_complement_evenly(max_rejections):
    positives = np.array([0, 2, 3, 7, 9], dtype=np.int64)
    items, exact = draw_many(1, positives, 10, np.zeros(0), max_rejections, 50_000)
    expected = np.full(10, 1 / 5)
    expected[positives] = 0.0
    assert not np.isin(items, positives).any()
    assert_frequencies(items, expected, 10)
    if max_rejections == 0:
        assert exact.all()


@pytest.mark.parametrize("max_rejections", [0, 2, 32])
def test_popularity_sampling_follows_the_weights(max_rejections):
    weights = np.array([5.0, 1.0, 0.0, 3.0, 2.0, 8.0, 1.0])
    positives = np.array([0, 5], dtype=np.int64)
    items, _ = draw_many(2, positives, 7, np.cumsum(weights), max_rejections, 50_000)
    expected = weights.copy()
    expected[positives] = 0.0
    expected /= expected.sum()
    assert not np.isin(items, positives).any()
    assert not (items == 2).any()
    assert_frequencies(items, expected, 7)


def test_zero_weight_complement_falls_back_to_uniform():
    weights = np.array([1.0, 0.0, 2.0, 0.0])
    positives = np.array([0, 2], dtype=np.int64)
    items, exact = draw_many(3, positives, 4, np.cumsum(weights), 4, 10_000)
    assert exact.all()
    assert_frequencies(items, np.array([0.0, 0.5, 0.0, 0.5]), 4)


def test_user_with_every_item_gets_no_negative():
    positives = np.arange(6, dtype=np.int64)
    items, exact = draw_many(4, positives, 6, np.zeros(0), 32, 10)
    np.testing.assert_array_equal(items, -1)
    assert not exact.any()


def test_single_free_item_is_found_exactly():
    positives = np.r_[np.arange(700), np.arange(701, 1000)].astype(np.int64)
    items, exact = draw_many(5, positives, 1000, np.zeros(0), 3, 200)
    np.testing.assert_array_equal(items, 700)
    # Three rejection rounds rarely hit the one free item in 1000.
    assert exact.sum() >= 190


def test_solver_leaves_out_users_without_negatives(caplog):
    positives = ((0, 1, 2), (1,), (0, 1, 2), ())
    data = shared_feature_data(4, positives, 3, seed=6)
    solver = BPRSolver(0.1, 0.0, 0.0)
    with caplog.at_level(logging.WARNING, logger="fmrec.solvers.bpr"):
        pairs = solver.prepare(data)
    assert pairs.n_users_without_negatives == 2
    np.testing.assert_array_equal(pairs.users, [1])
    np.testing.assert_array_equal(pairs.items, [1])
    assert "2 users have a positive interaction with every item" in caplog.text
    params = FMParams.initial(data.n_features, 2, 0.1, np.random.default_rng(0))
    stats = solver.run_epoch(pairs, params, np.random.default_rng(0))
    assert stats.n_updated == 1


def test_solver_rejects_unknown_sampling():
    with pytest.raises(ValueError, match="negative_sampling must be one of"):
        BPRSolver(0.1, 0.0, 0.0, negative_sampling="hard")


# --- the ranker -------------------------------------------------------------------


def clustered_interactions(seed=0, n_users=120, n_items=60, per_user=12):
    """Users in three taste groups, each interacting mostly with one third."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        group = user % 3
        liked = np.arange(group * 20, group * 20 + 20)
        other = np.setdiff1d(np.arange(n_items), liked)
        chosen = np.r_[
            rng.choice(liked, per_user - 2, replace=False),
            rng.choice(other, 2, replace=False),
        ]
        rows += [(1000 + user, 500 + item, 1 + item % 5) for item in chosen]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    frame["timestamp"] = 978300000
    return frame


def item_table(n_items=60):
    ids = 500 + np.arange(n_items)
    genres = np.where(ids % 3 == 0, "Drama", "Comedy|Drama")
    return pd.DataFrame({"item_id": ids, "genres": genres, "year": 1990 + ids % 10})


def test_ranker_fits_are_reproducible():
    frame = clustered_interactions()
    first = BPRRanker(8, n_epochs=3, random_state=5).fit(frame)
    second = BPRRanker(8, n_epochs=3, random_state=5).fit(frame)
    np.testing.assert_array_equal(first.V_, second.V_)
    np.testing.assert_array_equal(first.w_, second.w_)


@pytest.mark.parametrize(
    "features",
    [
        ("user", "item"),
        ("user", "item", "item_attributes"),
        ("user", "item", "implicit_user", "implicit_item"),
    ],
)
def test_ranker_scores_equal_the_fm_output(features):
    frame = clustered_interactions(seed=1)
    ranker = BPRRanker(4, features=features, n_epochs=2, random_state=0)
    ranker.fit(frame, items=item_table())
    encoder = ranker.encoder_
    users = np.array([0, 5, 17])
    scores = ranker.score_users(users)
    n_items = len(encoder.items)
    rows = encoder.blocks(np.repeat(users, n_items), np.tile(np.arange(n_items), 3))
    X = rows.to_sparse()
    expected = fm_predict(
        X.indptr.astype(np.int64),
        X.indices.astype(np.int32),
        X.data,
        ranker.w0_,
        ranker.w_,
        ranker.V_,
    )
    np.testing.assert_allclose(scores.ravel(), expected, rtol=1e-10, atol=1e-12)


def test_ranker_learns_taste_groups():
    frame = clustered_interactions(seed=2)
    ranker = BPRRanker(8, n_epochs=40, learning_rate=0.1, random_state=0)
    ranker.fit(frame)
    top = ranker.recommend(1000, n=5)
    # User 1000 is in group 0, whose items are 500..519.
    assert top["item_id"].between(500, 519).all()
    seen = set(frame.loc[frame["user_id"] == 1000, "item_id"])
    assert not seen & set(top["item_id"])
    np.testing.assert_array_equal(top["rank"], [1, 2, 3, 4, 5])
    assert np.all(np.diff(top["score"].to_numpy()) <= 0)


def test_ranker_recommend_excludes_and_rejects_unknown_users():
    frame = clustered_interactions(seed=3)
    ranker = BPRRanker(4, n_epochs=2, random_state=0).fit(frame)
    first = ranker.recommend(1001, n=3)
    again = ranker.recommend(1001, n=3, exclude=(int(first["item_id"][0]),))
    np.testing.assert_array_equal(again["item_id"][:2], first["item_id"][1:])
    with pytest.raises(KeyError, match="user 5 has no training interactions"):
        ranker.recommend(5)


def test_ranker_early_stopping_keeps_the_best_epoch():
    frame = clustered_interactions(seed=4, per_user=16)
    valid_mask = np.random.default_rng(0).random(len(frame)) < 0.2
    train, valid = frame[~valid_mask], frame[valid_mask]
    ranker = BPRRanker(
        8, n_epochs=60, learning_rate=0.2, reg_v=0.0, patience=2, random_state=1
    ).fit(train, valid=valid)
    scores = [record.valid_ndcg for record in ranker.history_]
    assert ranker.best_epoch_ == int(np.argmax(scores)) + 1
    assert len(ranker.history_) == min(60, ranker.best_epoch_ + 2)

    encoder = ranker.encoder_
    relevant = sp.csr_matrix(
        (
            np.ones(len(valid)),
            (
                encoder.users.lookup(valid["user_id"].to_numpy()),
                encoder.items.lookup(valid["item_id"].to_numpy()),
            ),
        ),
        shape=ranker.seen_.shape,
    )
    kept = evaluate_top_k(ranker.score_users, ranker.seen_, relevant, k=10)
    assert kept.ndcg == pytest.approx(scores[ranker.best_epoch_ - 1], rel=1e-12)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"features": ("user", "item", "time")}, r"cannot use the feature groups"),
        ({"negative_sampling": "hard"}, r"'negative_sampling' parameter"),
        ({"n_candidates": 0}, r"'n_candidates' parameter"),
        ({"learning_rate": 0.0}, r"'learning_rate' parameter"),
    ],
)
def test_ranker_rejects_invalid_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        BPRRanker(**params).fit(clustered_interactions())


def test_ranker_divergence_raises():
    frame = clustered_interactions(seed=5)
    ranker = BPRRanker(4, learning_rate=1e200, init_std=1e100, n_epochs=3)
    with pytest.raises(TrainingDivergedError, match="BPR diverged in epoch 1"):
        ranker.fit(frame)


def test_popularity_sampling_trains_too():
    frame = clustered_interactions(seed=6)
    ranker = BPRRanker(
        8,
        n_epochs=30,
        learning_rate=0.1,
        negative_sampling="popularity",
        random_state=0,
    ).fit(frame)
    top = ranker.recommend(1002, n=5)
    # User 1002 is in group 2, whose items are 540..559.
    assert top["item_id"].between(540, 559).all()


# --- real data --------------------------------------------------------------------


def test_bpr_beats_popularity_on_ml_100k(movielens_dir):
    protocol = load_ranking_protocol(movielens_dir / "ml-100k", seed=0)
    ranker = BPRRanker(
        32, n_epochs=30, reg_w=0.01, reg_v=0.01, n_candidates=3, random_state=0
    ).fit(protocol.train, valid=protocol.valid)
    assert np.array_equal(ranker.encoder_.users.ids, protocol.users.ids)
    columns = ranker.encoder_.items.lookup(protocol.items.ids)
    assert (columns >= 0).all()

    def score_users(users):
        return ranker.score_users(users)[:, columns]

    counts = np.asarray(protocol.matrix("train").sum(axis=0)).ravel()

    def popularity(users):
        return np.broadcast_to(counts, (users.size, counts.size))

    bpr = protocol.evaluate(score_users, "test").ndcg
    popular = protocol.evaluate(popularity, "test").ndcg
    assert bpr > 1.2 * popular
