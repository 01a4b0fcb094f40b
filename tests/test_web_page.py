"""The web page end to end in headless Chromium, driven by Playwright.

Chromium comes from the Debian package (``apt-get install chromium``); the
tests fail, rather than skip, when it is missing.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from fmrec.service import create_app
from service_helpers import ServerThread, save_pair, trained_models

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def recommender(movielens_dir):
    return trained_models(str(movielens_dir))[0]


@pytest.fixture(scope="module")
def server(movielens_dir, tmp_path_factory):
    path, _ = save_pair(movielens_dir, tmp_path_factory.mktemp("models"))
    with ServerThread(create_app(path)) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}; install it with "
            "'apt-get install -y chromium' to run the web page tests."
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    yield page
    context.close()
    assert errors == []


def titles(recommendations):
    return recommendations.items["title"].tolist()


def list_titles(page, list_id):
    return page.locator(f"#{list_id} .title").all_inner_texts()


def test_page_structure_is_accessible(page):
    expect(page).to_have_title("fmrec movie recommendations")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "fmrec movie recommendations"
    )
    for name in ["Recommendations for a known user", "Start as a new user"]:
        expect(page.get_by_role("heading", level=2, name=name)).to_be_visible()
    expect(page.get_by_label("User id")).to_be_editable()
    expect(page.get_by_label("Find a movie by title")).to_be_editable()
    expect(page.locator("#model-summary")).to_contain_text("943 users")


def test_keyboard_reaches_user_field(page):
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("User id")).to_be_focused()


def test_known_user_shows_rated_and_recommended(page, recommender):
    field = page.get_by_label("User id")
    field.fill("4")
    field.press("Enter")
    expected = titles(recommender.recommend(4, 10))
    expect(page.locator("#user-recs .title")).to_have_text(expected)
    expect(page.locator("#user-recs .why")).to_have_count(10)
    expect(page.locator("#user-status")).to_contain_text("User 4")
    rated = page.locator("#rated-list .title")
    expect(rated).to_have_count(10)
    index = recommender.encoder_.users.lookup([4])[0]
    seen = recommender.encoder_.items.ids[recommender.seen_[index].indices]
    catalogue = recommender.catalogue_.set_index("item_id")
    seen_titles = set(catalogue.loc[seen, "title"])
    assert set(rated.all_inner_texts()) <= seen_titles


def test_explanation_terms_open(page):
    page.get_by_label("User id").fill("4")
    page.get_by_role("button", name="Show recommendations").click()
    first = page.locator("#user-recs li").first
    first.get_by_text("Show the score terms").click()
    table = first.locator("table.terms")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_contain_text("global bias")


def test_unknown_user_shows_message(page):
    field = page.get_by_label("User id")
    field.fill("999999")
    field.press("Enter")
    expect(page.locator("#user-status")).to_contain_text(
        "User 999999 is not in the model"
    )
    expect(page.locator("#user-recs li")).to_have_count(0)


def test_random_user_button(page):
    page.get_by_role("button", name="Pick a random user").click()
    expect(page.locator("#user-recs li")).to_have_count(10)
    assert page.get_by_label("User id").input_value().isdigit()


def search_and_rate(page, query, title, rating):
    field = page.get_by_label("Find a movie by title")
    field.fill(query)
    field.press("Enter")
    result = page.locator("#search-results li").filter(has_text=title)
    expect(result).to_have_count(1)
    result.get_by_label("Your rating").select_option(str(rating))
    result.get_by_role("button", name=f"Rate {title}").click()


def test_new_user_flow(page, recommender):
    status = page.locator("#new-user-status")
    expect(status).to_contain_text("Most-rated movies")
    expect(page.locator("#new-user-recs .title")).to_have_text(
        titles(recommender.popular(10))
    )

    search_and_rate(page, "star wars", "Star Wars (1977)", 5)
    expect(page.locator("#my-ratings .title")).to_have_text(["Star Wars (1977)"])
    expected = titles(recommender.recommend_for_ratings({50: 5.0}, 10))
    expect(page.locator("#new-user-recs .title")).to_have_text(expected)
    expect(status).to_contain_text("10 recommendations")

    search_and_rate(page, "fargo", "Fargo (1996)", 2)
    expected = titles(recommender.recommend_for_ratings({50: 5.0, 100: 2.0}, 10))
    expect(page.locator("#new-user-recs .title")).to_have_text(expected)
    expect(page.locator("#new-user-recs .why")).to_have_count(10)

    page.get_by_role("button", name="Remove the rating of Star Wars (1977)").click()
    expect(page.locator("#my-ratings .title")).to_have_text(["Fargo (1996)"])
    expected = titles(recommender.recommend_for_ratings({100: 2.0}, 10))
    expect(page.locator("#new-user-recs .title")).to_have_text(expected)


def test_title_search_without_match(page):
    field = page.get_by_label("Find a movie by title")
    field.fill("zzzqqq")
    field.press("Enter")
    expect(page.locator("#search-status")).to_contain_text("No movie title contains")
    expect(page.locator("#search-results li")).to_have_count(0)


def test_screenshot_is_png(page, tmp_path):
    page.get_by_label("User id").fill("4")
    page.get_by_label("User id").press("Enter")
    expect(page.locator("#user-recs li")).to_have_count(10)
    path = tmp_path / "page.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
