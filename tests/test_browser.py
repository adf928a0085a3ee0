"""The reference pages in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright,
against ``flask run`` and a real worker on the embedded broker.

Without Chromium these tests skip; under ``CONFIGSVC_REQUIRE_BROWSER=1`` (as in CI, which installs it the
way the README says) they fail instead. Playwright's own browser download is never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import celery_worker, web_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]  # one Chromium for the file
# Flags for a sandboxed machine without network: no background traffic, no first-run or sync.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")  # one per test process: its group runs there, in one go or not
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def site(deployment_file, tmp_path: Path) -> Iterator[str]:
    """``flask run`` and a worker, both on the embedded broker under this test's folder."""
    queue = tmp_path / "queue"
    path = deployment_file(
        "secret_key: browser-test-secret-key\n"
        f"celery:\n  broker_url: filesystem://\n"
        f"  broker_transport_options:\n    data_folder_in: {queue}\n    data_folder_out: {queue}\n"
        f"  result_backend: file://{tmp_path / 'results'}\n")
    env = {"FLASK_CONFIG": str(path)}
    (tmp_path / "web").mkdir()
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"), \
            web_server(env, cwd=tmp_path / "web", log=tmp_path / "web.log", kind="flask") as url:
        yield url


def test_the_form_sends_a_message_and_the_result_page_updates_itself(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.goto(site + "/")
    assert page.title() == "configsvc"
    page.fill("input[name=message]", "hello from chromium")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/result/*")
    assert page.text_content("#state") in ("PENDING", "SUCCESS", "STARTED")
    page.wait_for_function("document.getElementById('state').textContent === 'SUCCESS'", timeout=30_000)
    assert page.text_content("#result") == '"hello from chromium"'

    task_id = page.url.rsplit("/", 1)[1]
    page.goto(site + "/")  # the signed session remembers the last task
    assert page.text_content("a[href^='/result/']") == task_id
    page.close()


def test_an_empty_message_is_refused_by_the_server(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.goto(site + "/")
    page.eval_on_selector("input[name=message]", "element => element.removeAttribute('required')")
    page.fill("input[name=message]", "   ")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.click("button[type=submit]")
    assert posted.value.status == 400
    assert "Type a message of up to 1000 characters." in page.text_content(".error")
    page.close()
