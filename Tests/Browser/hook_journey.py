"""A member's journey through the web UI in a real headless Chromium.

Usage: hook_journey.py BASE_URL RECEIVER_URL ADMIN_EMAIL ADMIN_PASSWORD PROVIDER_TOKEN ADMIN_TOKEN SCREENSHOT_PATH
Prints "BROWSER OK" when every step behaved; exits non-zero with the failing step otherwise.
"""
import json
import sys
import time
import urllib.request

import chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

base, receiver, admin_email, admin_password, provider_token, admin_token, screenshot = sys.argv[1:8]
PASSWORD = "correct horse battery"

driver = chromium.start("1280,900")
until = chromium.waiter(driver)
step = chromium.step


def fill(field_id, value):
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def sign_in(email, password):
    driver.get(base + "/login")
    fill("email", email)
    fill("password", password)
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()


def sign_out():
    driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    until("signed out", lambda: "/login" in driver.current_url)


def get_json(url, token):
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def post(url, payload=None, token=None):
    request = urllib.request.Request(url, data=json.dumps(payload or {}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return response.status


try:
    step("the admin signs in and creates two teams and their members")
    sign_in(admin_email, admin_password)
    until("admin page", lambda: "Administration" in driver.title)
    for name, slug, email in (("Economic Development Bank", "bde", "ana@bde.example"), ("Export Company", "cce", "luis@cce.example")):
        driver.get(base + "/admin")
        fill("team-name", name)
        fill("team-slug", slug)
        driver.find_element(By.CSS_SELECTOR, "form[action='/admin/teams'] button").click()
        until(f"team {slug}", lambda: f"Team {name} created." in driver.page_source)
        fill("member-email", email)
        fill("member-password", PASSWORD)
        Select(driver.find_element(By.ID, "member-team")).select_by_visible_text(name)
        driver.find_element(By.CSS_SELECTOR, "form[action='/admin/members'] button").click()
        until(f"member {email}", lambda: f"{email} can now sign in." in driver.page_source)
    sign_out()

    step("the member registers a hook through the form")
    sign_in("ana@bde.example", PASSWORD)
    until("hooks page", lambda: driver.title.startswith("Webhooks"))
    driver.find_element(By.LINK_TEXT, "Add webhook").click()
    fill("url", receiver + "/hook")
    driver.find_element(By.CSS_SELECTOR, "input[name=events_mode][value=custom]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=events][value='lead.created']").click()
    driver.find_element(By.CSS_SELECTOR, "form.hookform button.primary").click()
    until("the new secret", lambda: "Your new secret" in driver.page_source)
    hook_path = driver.find_element(By.LINK_TEXT, "Edit").get_attribute("href").replace(base, "").removesuffix("/edit")

    step("a provider emits lead.created and the member sees it succeed")
    assert post(base + "/api/events", {"type": "lead.created", "data": {"lead_id": "lead_8412", "name": "Ana Rivera"}}, provider_token) == 202

    def delivered(event, icon):
        driver.get(base + hook_path)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.deliveries tbody tr")
        return any(event in row.text and row.find_element(By.CSS_SELECTOR, ".status").text == icon for row in rows)

    until("the lead succeeds", lambda: delivered("lead.created", "✔"))
    driver.find_element(By.XPATH, "//tr[contains(., 'lead.created')]//a").click()
    until("the delivery page", lambda: "X-Hub-Signature-256" in driver.page_source and "lead_8412" in driver.page_source)
    assert "Response" in driver.page_source

    step("the receiver fails; the member redelivers and pings and sees each result")
    post(receiver + "/control/fail")
    driver.find_element(By.XPATH, "//button[normalize-space()='Redeliver']").click()
    until("redelivery queued", lambda: "Redelivery queued" in driver.page_source)

    def redelivery_failed():
        driver.get(base + hook_path)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.deliveries tbody tr")
        return any("lead.created" in row.text and "redelivery" in row.text and "500" in row.text for row in rows)

    until("the redelivery fails with 500", redelivery_failed)
    driver.find_element(By.XPATH, "//button[normalize-space()='Ping']").click()
    until("ping sent", lambda: "Ping sent" in driver.page_source)
    def ping_failed():
        driver.get(base + hook_path)
        rows = driver.find_elements(By.CSS_SELECTOR, "table.deliveries tbody tr")
        return any("ping" in row.text and "500" in row.text for row in rows)

    until("the ping fails with 500", ping_failed)
    driver.save_screenshot(screenshot)

    step("the live pages left behind close their streams")
    # Every poll above loaded the hook page, each with its live stream. A page left for one without
    # a stream must close its own (else the browser keeps it, stream open, in its back/forward cache,
    # and six of them hold every HTTP/1.1 connection to Herald, so the next click waits a minute).
    driver.get(base + "/account")
    until("no live stream left open", lambda: get_json(base + "/api/overview", admin_token)["open_feeds"] == 0, timeout=20)
    driver.back()
    until("the hook page, loaded again", lambda: hook_path in driver.current_url and "Ping" in driver.page_source)
    until("its live stream open again", lambda: get_json(base + "/api/overview", admin_token)["open_feeds"] == 1, timeout=20)
    sign_out()

    step("another team's member cannot see or change the hook")
    sign_in("luis@cce.example", PASSWORD)
    until("hooks page", lambda: driver.title.startswith("Webhooks"))
    assert receiver not in driver.page_source
    for path in (hook_path, hook_path + "/edit"):
        driver.get(base + path)
        assert "Page not found" in driver.page_source, path
    print("BROWSER OK")
finally:
    driver.quit()
