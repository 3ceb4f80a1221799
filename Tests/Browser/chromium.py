"""What every browser script shares: a headless Chromium under chromedriver, and waiting for a
positive signal (a step that times out says what it waited for and shows the page)."""
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def start(window_size="1280,900"):
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window_size}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(2)
    return driver


_started = time.monotonic()


def step(message):
    """Prints the step with the seconds since the script started, so a slow step shows in the log."""
    print(f"· {time.monotonic() - _started:6.1f} s  {message}", flush=True)


def waiter(driver):
    """until(what, condition, timeout=60): polls condition until it holds, or fails with the page.

    A live page (the delivery log streams its rows) may replace an element between finding it and
    reading it; that reading is stale, not false, so the condition is asked again."""
    def until(what, condition, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if condition():
                    return
            except StaleElementReferenceException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"timed out: {what}\n{driver.page_source[:3000]}")
    return until
