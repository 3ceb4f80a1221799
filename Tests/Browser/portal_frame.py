"""A portal link embedded in a provider's own page, in a real headless Chromium.

Usage: portal_frame.py HERALD_URL ALLOWED_PAGE_URL OTHER_PAGE_URL PROVIDER_TOKEN RECEIVER_URL
The two page servers answer GET /frame/<link token> with a page that frames Herald's
/portal/<link token>; Herald lets ALLOWED_PAGE_URL's origin frame it, and not OTHER_PAGE_URL's.
Prints "BROWSER OK" when every step behaved; exits non-zero with the failing step otherwise.
"""
import json
import sys
import time
import urllib.request

import chromium
from selenium.webdriver.common.by import By

base, allowed, other, provider_token, receiver = sys.argv[1:6]

driver = chromium.start("1280,1000")
until = chromium.waiter(driver)
step = chromium.step


def api(path, payload=None, method="POST"):
    request = urllib.request.Request(base + path, data=None if payload is None else json.dumps(payload).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Bearer " + provider_token)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


def framed(page_base, **options):
    """Mints a link and opens the provider's page that frames it; switches into the frame."""
    link = api("/api/teams/bde/portal-links", options)
    token = link["url"].rsplit("/portal/", 1)[1]
    driver.switch_to.default_content()
    driver.get(page_base + "/frame/" + token)
    until("the provider's page", lambda: driver.find_elements(By.ID, "portal"))
    driver.switch_to.frame("portal")
    return link


def frame_text():
    return driver.find_element(By.TAG_NAME, "body").text


try:
    step("the provider's page frames a portal link: the team's webhooks show inside it")
    link = framed(allowed)
    until("the portal's webhooks", lambda: "Webhooks" in driver.execute_script("return document.title") and "End session" in frame_text())
    assert "API tokens" not in frame_text() and "Documents" not in frame_text(), frame_text()

    step("inside the frame, the user registers a hook through the form")
    driver.find_element(By.LINK_TEXT, "Add webhook").click()
    until("the form", lambda: driver.find_elements(By.ID, "url"))
    driver.find_element(By.ID, "url").send_keys(receiver + "/portal-hook")
    driver.find_element(By.CSS_SELECTOR, "input[name=events_mode][value=custom]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=events][value='lead.created']").click()
    driver.find_element(By.CSS_SELECTOR, "form.hookform button.primary").click()
    until("the new secret", lambda: "Your new secret" in driver.page_source)
    hook_url = driver.execute_script("return location.pathname")

    step("a lead is emitted; the delivery shows in the frame and is redelivered from there")
    api("/api/events", {"type": "lead.created", "data": {"lead_id": "lead_portal_1"}})

    def delivered():
        driver.execute_script("location.assign(arguments[0])", hook_url)
        time.sleep(0.2)
        return any("lead.created" in row.text and "✔" in row.text for row in driver.find_elements(By.CSS_SELECTOR, "table.deliveries tbody tr"))

    until("the lead is delivered", delivered)
    driver.find_element(By.XPATH, "//tr[contains(., 'lead.created')]//a").click()
    until("the delivery page", lambda: "lead_portal_1" in driver.page_source)
    driver.find_element(By.XPATH, "//button[normalize-space()='Redeliver']").click()
    until("redelivery queued", lambda: "Redelivery queued" in driver.page_source)

    step("the user ends the session from the frame")
    driver.find_element(By.XPATH, "//button[normalize-space()='End session']").click()
    until("session ended", lambda: "Session ended" in driver.page_source)

    step("a read-only link shows the hook and its deliveries, with nothing to press")
    framed(allowed, read_only=True)
    until("the read-only portal", lambda: "read-only" in frame_text())
    driver.find_element(By.PARTIAL_LINK_TEXT, "/portal-hook").click()
    until("the hook page", lambda: "Recent Deliveries" in frame_text())
    buttons = [b.text for b in driver.find_elements(By.TAG_NAME, "button")]
    assert not any(text in ("Ping", "Replay", "Rotate secret", "Delete webhook") for text in buttons), buttons
    assert not driver.find_elements(By.LINK_TEXT, "Edit")

    step("a page of an origin Herald was not told of cannot frame a portal")
    framed(other)

    def refused():
        location = driver.execute_script("return location.href")
        assert "End session" not in driver.page_source, "the portal showed in a frame it must refuse"
        return location.startswith("chrome-error://")

    until("the browser refuses the frame", refused)
    print("BROWSER OK")
finally:
    driver.quit()
