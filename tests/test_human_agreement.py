"""Judges checked against people: the rating page (in headless Chromium), ratings in from files, agreement
out (Krippendorff's alpha, correlations, people against each other)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from personadrop.cli import main
from personadrop.data.world import generate_world, world_config, write_world
from personadrop.evaluate.directory import EvaluationDir
from personadrop.evaluate.human import _alpha, human_agreement
from personadrop.evaluate.ratings import Rating, RatingsDir
from personadrop.serve import Served, create_app, running
from personadrop.serve.annotate import annotate_routes

DIMS = "response,stance"


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> Path:
    """An evaluation of the world's reference on 30 examples under three conditions, two dimensions."""
    base = tmp_path_factory.mktemp("human")
    world = base / "world"
    write_world(generate_world(world_config(seed=4, users=40, posts=120)), world)
    out = base / "eval"
    main(
        [
            "evaluate", "--model", "bayes", "--data", str(world), "--out", str(out), "--max-examples", "30",
            "--conditions", "full none only:values", "--dimensions", DIMS, "--no-progress",
        ]
    )  # fmt: skip
    return out


def judge_scores(ev: EvaluationDir, ratings: RatingsDir, dim: str) -> dict[str, float]:
    return {
        i.id: ev.store.scores[(i.variant, i.condition, i.example_id, ev.meta.judge)].scores[dim]
        for i in ratings.sample.items
    }


# --------------------------------------------------------------------------- the statistics
def test_alpha_matches_a_hand_computation():
    # Two raters, four items: 1 2 3 4 and 1 2 3 5. Observed disagreement D_o = (1/8) * 2 * (4-5)^2 = 0.25
    # (one unit differs, both ordered pairs); expected D_e = sum over ordered pairs of all 8 values of
    # (v_i - v_j)^2 / (8 * 7) = 2 * 8 * 13.875 / 56 = 3.9643; alpha = 1 - D_o / D_e = 0.93694.
    assert _alpha(np.array([[1.0, 2, 3, 4], [1, 2, 3, 5]]), "interval") == pytest.approx(0.936937, abs=1e-5)
    # Ordinal: ranks matter, not distances; the one disagreement is between neighbouring values 4 and 5.
    assert _alpha(np.array([[1.0, 2, 3, 4], [1, 2, 3, 4]]), "ordinal") == pytest.approx(1.0)
    # A missing rating (NaN) leaves its item out when no pair remains.
    assert _alpha(np.array([[1.0, 2, 3, np.nan], [1, 2, 3, 9]]), "interval") == pytest.approx(1.0)


def test_perfect_agreement_is_one_and_random_ratings_cover_zero(evaluation, tmp_path):
    ev = EvaluationDir.open(evaluation)
    ratings = RatingsDir.create(tmp_path / "r", ev, n=60, seed=1)
    rng = np.random.default_rng(0)
    dims = ratings.sample.dimensions
    same = [
        Rating(item=i, rater=f"p{k}", dimension=d, value=v)
        for d in dims
        for i, v in judge_scores(ev, ratings, d).items()
        for k in range(2)
    ]
    report = human_agreement(ev, ratings.sample, same, resamples=200)
    for row in report.dimensions:
        assert row.alpha_interval.mean == pytest.approx(1.0) and row.spearman.mean == pytest.approx(1.0)
        assert row.alpha_people.mean == pytest.approx(1.0) and row.items == 60
    noise = [
        Rating(item=i.id, rater=f"p{k}", dimension=d, value=float(rng.choice([0, 0.25, 0.5, 0.75, 1])))
        for d in dims
        for i in ratings.sample.items
        for k in range(2)
    ]
    report = human_agreement(ev, ratings.sample, noise, resamples=300)
    for row in report.dimensions:
        for e in (row.alpha_interval, row.alpha_people, row.spearman):
            assert e.ci_low < 0 < e.ci_high, (row.dimension, e)


def test_the_sample_is_blind_stratified_and_stable(evaluation, tmp_path):
    ev = EvaluationDir.open(evaluation)
    a = RatingsDir.create(tmp_path / "a", ev, n=30, seed=3)
    b = RatingsDir.create(tmp_path / "b", ev, n=30, seed=3)
    assert [i.id for i in a.sample.items] == [i.id for i in b.sample.items]
    conditions = [i.condition for i in a.sample.items]
    assert {conditions.count(c) for c in ("full", "none", "only:values")} == {10}  # stratified
    again = RatingsDir.create(tmp_path / "a", ev, n=5, seed=9)  # an existing directory keeps its sample
    assert [i.id for i in again.sample.items] == [i.id for i in a.sample.items]
    assert all(not (i.variant in i.id or i.condition in i.id) for i in a.sample.items)


# --------------------------------------------------------------------------- ratings from files
def test_judges_entered_as_raters_through_the_import(evaluation, tmp_path, cli):
    ev = EvaluationDir.open(evaluation)
    ratings = RatingsDir.create(tmp_path / "r", ev, n=40, seed=0)
    path = tmp_path / "crowd.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "rater", "dimension", "value"])
        for d in ratings.sample.dimensions:
            for i, v in judge_scores(ev, ratings, d).items():
                writer.writerow([i, "exact-as-rater", d, v])
                writer.writerow([i, "rounded", d, round(v * 4) / 4])  # a person rating in steps
    code, out, err = cli("judge-agreement", evaluation, "--human", tmp_path / "r", "--human", path)
    assert code == 0, err
    report = json.loads((evaluation / "human_agreement.json").read_text())
    assert report["raters"] == ["exact-as-rater", "rounded"]
    row = report["dimensions"][0]
    assert row["alpha_interval"]["mean"] > 0.9 and row["items"] == 40
    assert "response" in out and "one more person" in out
    code, _, err = cli("report", evaluation, "--out", tmp_path / "report", "--resamples", "100")
    assert code == 0, err
    assert "## The judge against people" in (tmp_path / "report" / "report.md").read_text()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["human"]["raters"] == ["exact-as-rater", "rounded"]


@pytest.mark.parametrize(
    "row, needle",
    [
        ({"item": "i-unknown", "rater": "a", "dimension": "response", "value": 0.5}, "not in the sample"),
        ({"rater": "a", "dimension": "response", "value": 1.5}, "0 to 1"),
        ({"rater": "a", "dimension": "goal", "value": 0.5}, "dimension 'goal' is not rated here"),
    ],
)
def test_a_ratings_file_with_bad_rows_is_one_line(evaluation, tmp_path, cli, row, needle):
    ev = EvaluationDir.open(evaluation)
    ratings = RatingsDir.create(tmp_path / "r", ev, n=5, seed=0)
    row = {"item": ratings.sample.items[0].id, **row}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row) + "\n")
    code, _, err = cli("judge-agreement", evaluation, "--human", tmp_path / "r", "--human", bad)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code != 0 and len(lines) == 1 and needle in lines[0] and "bad.jsonl:1" in lines[0], err


# --------------------------------------------------------------------------- the page, in a browser
@pytest.mark.slow
def test_rating_three_items_by_keyboard_survives_a_reload(evaluation, tmp_path):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("headless Chromium is not installed (.ci/run installs chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ratings = RatingsDir.create(tmp_path / "r", EvaluationDir.open(evaluation), n=8, seed=0)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1280,900"):  # fmt: skip
        options.add_argument(flag)
    with running(create_app(Served({}), extra_routes=annotate_routes(ratings, "ada"))) as url:
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        try:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 30)
            progress = lambda d: d.find_element(By.ID, "progress").text  # noqa: E731
            wait.until(lambda d: progress(d) == "0 of 8 rated")
            shown = []
            body = driver.find_element(By.TAG_NAME, "body")
            for k in range(3):
                shown.append(driver.find_element(By.ID, "reply").text)
                body.send_keys("4")  # response: 1.0
                body.send_keys("2")  # stance: 0.5, and the item is saved
                wait.until(lambda d, k=k: progress(d) == f"{k + 1} of 8 rated")
            page = driver.find_element(By.TAG_NAME, "body").text
            assert "bayes" not in page and "only:values" not in page  # blind to variant and condition
            driver.save_screenshot(str(tmp_path / "page.png"))
            driver.refresh()
            wait.until(lambda d: progress(d) == "3 of 8 rated")
            assert driver.find_element(By.ID, "reply").text == ratings.sample.items[3].reply.strip()
        finally:
            driver.quit()
    given = ratings.given("ada")
    assert len(given) == 3 and all(v == {"response": 1.0, "stance": 0.5} for v in given.values())
    lines = (tmp_path / "r" / "ratings.jsonl").read_text().splitlines()
    assert len(lines) == 6 and {json.loads(x)["rater"] for x in lines} == {"ada"}
    assert set(given) == {i.id for i in ratings.sample.items[:3]}
    assert shown == [i.reply.strip() for i in ratings.sample.items[:3]]
