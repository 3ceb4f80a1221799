"""Every page at a phone's width (390 px) in a real headless Chromium: no horizontal scrolling, and
axe-core finds no serious or critical violation. The delivery page's tabs work from the keyboard.

Usage: accessibility.py BASE_URL ADMIN_EMAIL MEMBER_EMAIL PASSWORD HOOK_ID DELIVERY_ID TEAM_SLUG USER_ID SCREENSHOT_DIR
Prints "ACCESSIBILITY OK" when every page passed; otherwise every finding, and exits non-zero.
"""
import os
import sys
import time

import axe_core_python
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

base, admin_email, member_email, password, hook_id, delivery_id, team_slug, user_id, screenshots = sys.argv[1:10]
AXE = open(os.path.join(os.path.dirname(axe_core_python.__file__), "axe.min.js"), encoding="utf-8").read()

options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=390,844", "--hide-scrollbars"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.implicitly_wait(2)
# A desktop window cannot be made narrower than 500 px: emulate the phone's viewport instead.
driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
findings = []


def sign_in(email):
    driver.delete_all_cookies()
    driver.get(base + "/login")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    time.sleep(0.3)


def check(path, name):
    driver.get(base + path)
    time.sleep(0.2)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    if width > inner:
        wide = driver.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        findings.append(f"{path}: {width} px wide at {inner} px: {wide}")
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));"
    )
    for violation in result:
        if violation["impact"] in ("serious", "critical"):
            findings.append(f"{path}: {violation['impact']} {violation['id']} ({violation['help']}) at {violation['nodes']}")
    driver.save_screenshot(os.path.join(screenshots, f"{name}-390.png"))
    print("·", path, flush=True)


try:
    driver.get(base + "/login")
    check("/login", "login")
    sign_in(admin_email)
    for path, name in (
        ("/admin/overview", "overview"), ("/admin", "admin"), ("/admin/users", "users"), (f"/admin/users/{user_id}", "user"),
        (f"/admin/teams/{team_slug}", "team"), ("/admin/event-types", "event-types"), ("/admin/deliveries", "all-deliveries"),
        ("/admin/audit-log", "audit-log"), ("/tokens", "tokens"), ("/account", "account"), ("/documents", "documents"),
    ):
        check(path, name)
    sign_in(member_email)
    for path, name in (
        ("/hooks", "hooks"), ("/hooks/new", "hook-form"), (f"/hooks/{hook_id}", "hook"), (f"/hooks/{hook_id}/edit", "hook-edit"),
        (f"/hooks/{hook_id}/deliveries/{delivery_id}", "delivery"),
    ):
        check(path, name)

    # The delivery's tabs: a tablist; arrow keys move between tabs, and the panel follows.
    driver.get(base + f"/hooks/{hook_id}/deliveries/{delivery_id}")
    tabs = driver.find_elements(By.CSS_SELECTOR, "[role=tablist] [role=tab]")
    if len(tabs) < 2:
        findings.append("the delivery page has no tablist with two tabs")
    else:
        if tabs[0].get_attribute("aria-selected") != "true":
            findings.append("the first tab is not selected at first")
        tabs[0].click()
        tabs[0].send_keys(Keys.ARROW_RIGHT)
        active = driver.switch_to.active_element
        if active.get_attribute("id") != tabs[1].get_attribute("id") or tabs[1].get_attribute("aria-selected") != "true":
            findings.append("ArrowRight does not move to and select the next tab")
        panel = driver.find_element(By.ID, tabs[1].get_attribute("aria-controls"))
        if not panel.is_displayed():
            findings.append("the selected tab's panel is not shown")
    skip = driver.find_elements(By.CSS_SELECTOR, "a.skip-link[href='#main']")
    if not skip:
        findings.append("no skip link to the main content")
finally:
    driver.quit()

if findings:
    print("\n".join(findings))
    sys.exit(1)
print("ACCESSIBILITY OK")
