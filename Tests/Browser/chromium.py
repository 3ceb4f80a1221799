"""What every browser script shares: a headless Chromium under chromedriver, and waiting for a
positive signal (a step that times out says what it waited for and shows the page)."""
import time

from selenium import webdriver
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


def step(message):
    print("·", message, flush=True)


def waiter(driver):
    """until(what, condition, timeout=60): polls condition until it holds, or fails with the page."""
    def until(what, condition, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out: {what}\n{driver.page_source[:3000]}")
    return until
