"""Evaluation report, ranking curves and learning-curve figures on MovieLens 100K."""

import json
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from fmrec import persistence
from fmrec.cli.main import main
from fmrec.metrics import ranking_metrics
from fmrec.model import EpochRecord
from fmrec.report import (
    plot_learning_curves,
    ranking_curves,
    rmse_by_activity,
    write_report,
)
from service_helpers import trained_models

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(movielens_dir):
    recommender, _, test = trained_models(str(movielens_dir))
    return recommender, test


def check_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100
    assert image.shape[1] > 100


class PageOutline(HTMLParser):
    """Collect section ids, headings and image sources of an HTML page."""

    def __init__(self):
        super().__init__()
        self.sections, self.headings, self.images = [], [], []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes.get("id"))
        elif tag == "img":
            self.images.append((attributes.get("src"), attributes.get("alt")))
        elif tag in ("h1", "h2"):
            self._in_heading = True

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self._in_heading = False

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data)


@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_ranking_curves_equal_ranking_metrics(trained, k):
    recommender, test = trained
    curves = ranking_curves(recommender, test, max_k=50)
    encoder = recommender.encoder_
    report = ranking_metrics(
        recommender.score_users,
        recommender.seen_,
        encoder.users.lookup(test["user_id"].to_numpy()),
        encoder.items.lookup(test["item_id"].to_numpy()),
        test["rating"].to_numpy(),
        k=k,
    )
    assert curves.n_users == report.n_users
    assert abs(curves.ndcg[k - 1] - report.ndcg) < 1e-12
    assert abs(curves.recall[k - 1] - report.recall) < 1e-12


def test_ranking_curves_shape_and_recall_grows(trained):
    curves = ranking_curves(*trained, max_k=50, threshold=4.0)
    np.testing.assert_array_equal(curves.k, np.arange(1, 51))
    assert curves.ndcg.shape == (50,)
    assert np.all(np.diff(curves.recall) >= 0)
    assert np.all((curves.ndcg >= 0) & (curves.ndcg <= 1))


def test_ranking_curves_reject_bad_k(trained):
    with pytest.raises(ValueError, match="max_k"):
        ranking_curves(*trained, max_k=0)


def test_rmse_by_activity_partitions_test(trained):
    recommender, test = trained
    table = rmse_by_activity(recommender, test)
    assert table["n_ratings"].sum() == len(test)
    assert table["bucket"].tolist()[0] == "1-20"
    assert "unknown" not in table["bucket"].tolist()
    truth = test["rating"].to_numpy()
    predicted = recommender.predict(test["user_id"], test["item_id"])
    overall = np.sqrt(np.mean((predicted - truth) ** 2))
    pooled = np.sqrt((table["rmse"] ** 2 * table["n_ratings"]).sum() / len(test))
    assert pooled == pytest.approx(overall, rel=1e-12)


def test_rmse_by_activity_unknown_users(trained):
    recommender, test = trained
    extra = pd.DataFrame(
        {"user_id": [10**6, 10**6 + 1], "item_id": [50, 100], "rating": [5.0, 1.0]}
    )
    table = rmse_by_activity(recommender, pd.concat([test, extra]))
    unknown = table.set_index("bucket").loc["unknown"]
    assert unknown["n_users"] == 2
    assert unknown["n_ratings"] == 2


def test_report_files_and_sections(trained, tmp_path):
    path = write_report(*trained, tmp_path / "report")
    assert path.name == "index.html"
    outline = PageOutline()
    outline.feed(path.read_text(encoding="utf-8"))
    assert outline.sections == [
        "summary",
        "rmse-by-activity",
        "ranking-curves",
        "predicted-vs-true",
    ]
    assert outline.headings == [
        "fmrec evaluation report",
        "Summary",
        "RMSE by user activity",
        "NDCG@k and Recall@k",
        "Predicted against true ratings",
    ]
    assert len(outline.images) == 3
    for source, alt in outline.images:
        assert alt
        check_png(path.parent / source)


def test_report_tables_hold_numbers(trained, tmp_path):
    recommender, test = trained
    text = write_report(recommender, test, tmp_path).read_text(encoding="utf-8")
    curves = ranking_curves(recommender, test)
    assert f"<td>{curves.ndcg[9]:.4f}</td>" in text
    assert f"<td>{curves.recall[49]:.4f}</td>" in text
    assert f"<td>{len(test)}</td>" in text


def test_learning_curves_png(tmp_path):
    history = [
        EpochRecord(epoch, 1.0 / epoch, 1.1 / epoch, 0.1) for epoch in range(1, 6)
    ]
    check_png(plot_learning_curves(history, tmp_path / "curves.png", best_epoch=4))


def test_learning_curves_without_validation(tmp_path):
    history = [EpochRecord(epoch, 1.0 / epoch, None, 0.1) for epoch in range(1, 4)]
    check_png(plot_learning_curves(history, tmp_path / "train_only.png"))


def test_learning_curves_reject_empty_history(tmp_path):
    with pytest.raises(ValueError, match="history is empty"):
        plot_learning_curves([], tmp_path / "empty.png")


def test_evaluate_command_writes_report(trained, movielens_dir, tmp_path, capsys):
    recommender, _ = trained
    model = persistence.save(recommender, tmp_path / "model.fmrec")
    folder = tmp_path / "report"
    data = str(movielens_dir / "ml-100k")
    args = ["evaluate", "--model", str(model), "--data", data, "--report", str(folder)]
    assert main([*args, "--json", "--no-progress"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["report"] == str(folder / "index.html")
    assert (folder / "index.html").is_file()
    for name in ["rmse_by_activity.png", "ranking_curves.png", "predicted_vs_true.png"]:
        check_png(folder / name)


def test_train_command_draws_learning_curves(movielens_dir, tmp_path, capsys):
    data = str(movielens_dir / "ml-100k")
    plot = tmp_path / "curves.png"
    model = tmp_path / "model.fmrec"
    args = ["train", "--data", data, "--protocol", "seed", "--epochs", "3"]
    args += ["--out", str(model), "--plot", str(plot), "--json", "--no-progress"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["plot"] == str(plot)
    assert len(summary["epochs"]) == 3
    check_png(plot)
