"""The studio in a real browser: JupyterLab + Debian's Chromium (headless, through Playwright).

Starts JupyterLab on 127.0.0.1 (a free port, a random token) on a temporary copy of
``notebooks/01_map.ipynb``, runs all its cells, checks the studio widget drew the template's
diagram, adds a task through the form (id, actor, "Add step") and checks that the redrawn diagram
and the saved workflow file both have it. Screenshots go to ``test-artifacts/browser/``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/run.sh test`` installs it) and
the ``playwright`` package; never downloads a browser. Every wait is bounded, and the JupyterLab
process group is always ended in the fixture's teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 90.0  # seconds for JupyterLab to answer
UI_TIMEOUT = 90_000  # milliseconds for the page, the kernel and the cells

if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_settings(home: Path) -> dict[str, str]:
    """A private Jupyter config: no news or update checks, no notification toasts, announcements off."""
    config, settings, runtime = home / "config", home / "user-settings", home / "runtime"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    runtime.mkdir()
    return {
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    shutil.copy2(ROOT / "notebooks" / "01_map.ipynb", root / "01_map.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, **_write_settings(home), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    log = home / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.port_retries=0",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
                                   start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT:.0f}s:\n{_tail(log)}")
            time.sleep(0.5)
        yield Lab(url, token, root, log)
    finally:
        if process.poll() is None:
            _shutdown_kernels(f"http://127.0.0.1:{port}", token)
        _stop(process)


def _shutdown_kernels(url: str, token: str) -> None:
    """Ask the server to end the kernels it started (they run in sessions of their own)."""
    headers = {"Authorization": f"token {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels", headers=headers), timeout=5) as r:
            kernels = json.loads(r.read())
        for kernel in kernels:
            request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", headers=headers, method="DELETE")
            with urllib.request.urlopen(request, timeout=10):
                pass
    except (urllib.error.URLError, OSError, ValueError):
        pass  # the server's own shutdown ends them too


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End JupyterLab and its kernels (its own process group), politely first."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    else:  # the server is gone; make sure no kernel of its group is left behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _shot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path


def test_studio_in_jupyterlab(lab: Lab) -> None:
    workflow_file = lab.root / ".work" / "01_map" / "workflow.yaml"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})  # a projector
            page.set_default_timeout(UI_TIMEOUT)
            try:
                _drive(page, lab, workflow_file)
            except Exception:
                _shot(page, "01_map_failure")
                print(_tail(lab.log), file=sys.stderr)
                raise
        finally:
            browser.close()


def _drive(page: object, lab: Lab, workflow_file: Path) -> None:
    page.goto(f"{lab.url}/lab/tree/01_map.ipynb?token={lab.token}")  # type: ignore[attr-defined]
    page.wait_for_selector(".jp-Notebook .jp-Cell")  # type: ignore[attr-defined]
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")  # type: ignore[attr-defined]
    try:
        dialog.wait_for(timeout=3000)
    except sync_api.TimeoutError:
        pass
    else:
        dialog.get_by_role("button", name="Select").click()
    # the kernel is up when the toolbar says it is idle
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")  # type: ignore[attr-defined]
    left = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")  # type: ignore[attr-defined]
    if left.count():
        left.first.click()  # fold the file browser away: the studio gets the width

    # Run > Run All Cells
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()  # type: ignore[attr-defined]
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()  # type: ignore[attr-defined]
    page.wait_for_selector(".wds-studio .wds-diagram svg")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelectorAll('.jp-Notebook .jp-CodeCell').length > 0 && "
        "![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(e => e.textContent.includes('*'))",
        timeout=UI_TIMEOUT,
    )
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")  # type: ignore[attr-defined]
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, tracebacks

    studio = page.locator(".wds-studio").first  # type: ignore[attr-defined]
    studio.scroll_into_view_if_needed()
    titles = studio.locator(".wds-diagram svg g.node > title").all_text_contents()
    # the template's steps, and the step the notebook added through the controller
    assert {"start", "intake_request", "manager_approval", "release_payment", "legal_review"} <= set(titles)
    assert "Read and complete" in (studio.locator(".wds-diagram svg").first.text_content() or "")
    studio.evaluate("e => e.scrollIntoView({block: 'start'})")
    _shot(page, "01_map_studio")

    # add a task through the form: the id, who does it, Add step
    form = studio.locator(".widget-tab-contents").first
    form.get_by_placeholder("e.g. review_contract").fill("browser_check")
    form.get_by_placeholder("what happens, in plain words").fill("Check the contract in the browser")
    actor = studio.locator(".widget-dropdown", has_text="Done by").locator("select").first
    actor.select_option(label="ap_team (human)")
    _shot(page, "01_map_form_filled")
    studio.get_by_role("button", name="Add step").click()

    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('.wds-studio .wds-diagram svg g.node > title')]"
        ".some(t => t.textContent === 'browser_check')",
        timeout=UI_TIMEOUT,
    )
    studio.get_by_text("Added task `browser_check` done by `ap_team`").first.wait_for()  # the status line
    problems = studio.locator("select").all_inner_texts()
    assert any("browser_check" in text and "S005" in text for text in problems)
    deadline = time.monotonic() + 30
    while "browser_check" not in workflow_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)  # the autosave follows the redraw
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")  # type: ignore[attr-defined]
    page.wait_for_selector(".wds-studio .wds-diagram svg g.node.wds-selected")  # type: ignore[attr-defined]
    studio.evaluate("e => e.scrollIntoView({block: 'start'})")
    _shot(page, "01_map_after_add")
    from studio import io

    saved = io.load(workflow_file)
    node = saved.node("browser_check")
    assert getattr(node, "actor", None) == "ap_team" and node.name == "Check the contract in the browser"

    _other_tabs(page, studio)


def _other_tabs(page: object, studio: object) -> None:
    """Simulate (progress bar, KPIs, charts), walk a case (Approve), and a refused export, with screenshots."""
    tabs = studio.locator(".lm-TabBar-tab")  # type: ignore[attr-defined]
    studio.get_by_role("button", name="Undo").click()  # type: ignore[attr-defined]  # errors are not simulated
    studio.get_by_text("Undid: Added task `browser_check`").wait_for()  # type: ignore[attr-defined]
    tabs.filter(has_text="Simulate").first.click()
    for label, value in (("Cases", "30"), ("Replications", "1")):
        box = studio.locator(".widget-inline-hbox", has_text=label).locator("input").first  # type: ignore[attr-defined]
        box.fill(value)
        box.press("Enter")
    studio.get_by_role("button", name="Run simulation").click()  # type: ignore[attr-defined]
    studio.get_by_text("Cases simulated").wait_for()  # type: ignore[attr-defined]
    progress = studio.locator(".widget-inline-hbox", has_text="Progress").first  # type: ignore[attr-defined]
    assert progress.locator(".progress-bar-success").count() == 1  # the bar ran to the end
    studio.locator("img").first.wait_for()  # type: ignore[attr-defined]  # the charts follow the KPIs
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")  # type: ignore[attr-defined]
    studio.evaluate("e => e.scrollIntoView({block: 'start'})")  # type: ignore[attr-defined]
    _shot(page, "02_simulate")
    studio.locator("img").first.evaluate("e => e.scrollIntoView({block: 'center'})")  # type: ignore[attr-defined]
    _shot(page, "02_simulate_charts")
    tabs.filter(has_text="Hand-offs").first.click()
    studio.locator(".wds-diagram svg text", has_text="(agent)").first.wait_for()  # type: ignore[attr-defined]
    _shot(page, "02_simulate_handoffs")

    tabs.filter(has_text="Walk a case").first.click()
    studio.get_by_role("button", name="Start").click()  # type: ignore[attr-defined]
    studio.get_by_text("Waiting at").wait_for()  # type: ignore[attr-defined]
    assert "manager_approval" in studio.inner_text()  # type: ignore[attr-defined]
    studio.get_by_role("button", name="Approve").click()  # type: ignore[attr-defined]
    studio.get_by_text("manager_approval (approve)").wait_for()  # type: ignore[attr-defined]
    _shot(page, "03_walkthrough")

    tabs.filter(has_text="Map").first.click()
    studio.get_by_role("button", name="Redo").click()  # type: ignore[attr-defined]
    studio.get_by_text("Redid: Added task `browser_check`").wait_for()  # type: ignore[attr-defined]
    tabs.filter(has_text="Export").first.click()
    studio.get_by_role("button", name="Validate and export").click()  # type: ignore[attr-defined]
    studio.get_by_text("Not exported").first.wait_for()  # type: ignore[attr-defined]  # browser_check is not connected
    assert "S005" in studio.inner_text()  # type: ignore[attr-defined]
    _shot(page, "04_export_refused")
