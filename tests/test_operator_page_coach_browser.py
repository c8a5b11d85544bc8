"""The operator page honours what the coach says about its own prompts (issue 12):
a prompt whose trigger the final transcript withdrew leaves the card (and is not
restored to a page that connects later), and a prompt that recurs says why.

Same harness as ``tests/test_operator_page_browser.py`` (headless system Chromium,
the real server in-process)."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.test_operator_page_browser import (Screen, another_tab, browser, no_js_errors,  # noqa: F401
                                              open_page, screen)


def test_a_withdrawn_trigger_takes_its_prompt_off_the_card(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    screen.emit("utterance_partial", 20.0, "customer", t_end=25.0, text="honestly you idiot", language="en")
    screen.emit("trigger", 20.0, "customer", category="abuse", id="abuse.insult", text="idiot", span=[9, 14],
                partial=True, t_detected=25.0, language="en")
    screen.prompt("boundary.abuse@25.00", 25.0, kind="boundary", priority=90, title="Set a calm boundary",
                  why={"cue": "abuse", "t": 25.0, "speaker": "customer", "quote": "idiot"}, ttl=15.0)
    expect(page.locator("#prompt-title")).to_have_text("Set a calm boundary")
    # a lower-priority prompt waits behind it
    screen.prompt("listen.overlap@26.00", 26.0, kind="listen", priority=75, title="Let them finish")
    expect(page.locator("#prompt-next")).to_contain_text("Let them finish")

    screen.emit("trigger_withdrawn", 20.0, "customer", category="abuse", id="abuse.insult", text="idiot",
                t_detected=27.0, prompt="boundary.abuse@25.00", reason="not in the final transcript")
    # the card goes to the prompt that was waiting; the withdrawn one is gone
    expect(page.locator("#prompt-title")).to_have_text("Let them finish")
    expect(page.locator("#prompt-next")).to_be_hidden()
    assert (screen.broadcaster.snapshot()["prompt"] or {}).get("id") != "boundary.abuse@25.00"
    no_js_errors(page)


def test_a_page_that_connects_after_a_withdrawal_does_not_show_the_prompt(browser: Browser,
                                                                          screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    screen.prompt("plan.manager@14.20", 14.2, title="Own the escalation yourself", ttl=15.0)
    expect(page.locator("#prompt-title")).to_have_text("Own the escalation yourself")
    screen.emit("trigger_withdrawn", 10.0, "customer", category="manager_request", id="manager_request.want_boss",
                t_detected=18.0, prompt="plan.manager@14.20")
    expect(page.locator("#prompt-card")).to_be_hidden()
    assert screen.broadcaster.snapshot()["prompt"] is None
    late = another_tab(page, screen)
    expect(late.locator("#no-prompt")).to_be_visible()
    expect(late.locator("#prompt-card")).to_be_hidden()
    no_js_errors(page)
    no_js_errors(late)


def test_a_recurring_prompt_says_why_it_recurs(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    screen.prompt("empathy.acknowledge@190.00", 190.0, kind="empathy", priority=40, title="Name the feeling first",
                  why={"cue": "no_empathy", "t": 190.0, "repeat": {"times": 2, "last_t": 63.2}})
    why = page.locator("#prompt-why")
    expect(why).to_contain_text("again, last shown at 1:03")
    page.keyboard.press("d")
    screen.prompt("plan.offer_supervisor@400.00", 400.0, title="Offer a supervisor's help",
                  why={"cue": "customer_raised_voice", "t": 400.0, "speaker": "customer", "db_over_baseline": 9.0,
                       "next_rung": {"after": "empathy.acknowledge", "title": "Name the feeling first",
                                     "times": 2}})
    expect(page.locator("#prompt-title")).to_have_text("Offer a supervisor's help")
    expect(why).to_contain_text("customer 9 dB over their usual level at 6:40")
    expect(why).to_contain_text("“Name the feeling first” was shown twice: next step")
    no_js_errors(page)
