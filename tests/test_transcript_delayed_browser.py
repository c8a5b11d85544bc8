"""The operator page says so while live transcription is delayed (a typed
``transcript_delayed`` event), in a real browser (see test_operator_page_browser)."""

from playwright.sync_api import expect

from tests.test_operator_page_browser import (  # noqa: F401  (fixtures)
    Browser, Screen, browser, no_js_errors, open_page, screen)


def test_the_screen_says_when_the_transcript_is_delayed_and_when_it_caught_up(
        browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    note = page.locator("#transcript-delayed")
    screen.emit("utterance", 5.0, "customer", t_end=6.0, text="hello", language="en",
                avg_logprob=-0.1, no_speech_prob=0.01)
    expect(page.locator("#transcript-list li")).to_have_count(1)
    expect(note).to_have_count(0)                    # nothing said while all is well
    screen.emit("transcript_delayed", 20.0, on=True, shed=["partials", "operator"], behind_s=2.1, dropped=1)
    expect(note).to_be_visible()
    expect(note).to_contain_text("Transcript delayed")
    screen.emit("transcript_delayed", 31.0, on=False, shed=[], behind_s=0.0, dropped=1)
    expect(note).to_be_hidden()
    screen.emit("transcript_delayed", 40.0, on=True, shed=["partials"], behind_s=1.6, dropped=1)
    expect(note).to_be_visible()
    screen.call_start()                              # a new call starts clean
    expect(note).to_be_hidden()
    no_js_errors(page)


def test_a_page_opened_while_the_transcript_is_delayed_says_so(browser: Browser, screen: Screen) -> None:
    screen.call_start()
    screen.emit("transcript_delayed", 20.0, on=True, shed=["partials"], behind_s=2.4, dropped=2)
    page = open_page(browser, screen)                # its snapshot carries the delay
    note = page.locator("#transcript-delayed")
    expect(note).to_be_visible()
    screen.emit("transcript_delayed", 31.0, on=False, shed=[], behind_s=0.0, dropped=2)
    expect(note).to_be_hidden()
    no_js_errors(page)
