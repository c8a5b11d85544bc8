"""The operator page in a real browser: headless Chromium (the system's, never a
downloaded one) driven by Playwright, against the real web server run in-process.

Each test builds an event bus with a :class:`Broadcaster` on it, serves
``create_app`` with :class:`WebServer` on a free port, emits events on the bus and
checks what the page shows and sends back.  Each page signs in the way the
operator's browser does, through the screen's one-time launch link.  The
screenshot test replays the escalation fixture through the real pipeline (with
transcription) and saves a screenshot of the screen in the middle of the call in
the test's temporary folder; set ``CALMLINE_UPDATE_SCREENSHOT=1`` to also write it
to ``docs/screenshots/operator-screen.png`` (the README's picture).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (make test installs it: scripts/install-system-deps --test)",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from monitor.event_bus import EventBus  # noqa: E402
from monitor.events import Event  # noqa: E402
from monitor.web.access import ScreenAccess  # noqa: E402
from monitor.web.broadcaster import Broadcaster  # noqa: E402
from monitor.web.server import WebServer, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshots" / "operator-screen.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDE = {"width": 1280, "height": 800}
HALF = {"width": 640, "height": 800}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Screen:
    """An event bus, a broadcaster on it and the web server, as `calmline replay --ui`
    wires them; acknowledgements are recorded and emitted as ``prompt_ack``."""

    def __init__(self, port: int | None = None, call_id: str = "test-call",
                 access: ScreenAccess | None = None) -> None:
        port = port or free_port()
        self.access = access or ScreenAccess("127.0.0.1", port)
        self.bus = EventBus(call_id)
        self.broadcaster = Broadcaster()
        self.bus.subscribe(self.broadcaster)
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.acks: list[tuple[str, str]] = []
        self.t = 0.0
        self.server = WebServer(create_app(self.broadcaster, self.on_ack, self.access), "127.0.0.1", port)
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def launch_url(self) -> str:
        """The one-time link that signs a browser in (as `calmline` opens it)."""
        return self.access.launch_url(self.server.url)

    def on_ack(self, prompt_id: str, action: str) -> None:
        self.acks.append((prompt_id, action))
        self.bus.emit("prompt_ack", self.t, "operator", prompt_id=prompt_id, action=action)

    def emit(self, type_: str, t: float, speaker: str | None = None, **data: Any) -> Event:
        self.t = max(self.t, t)
        return self.bus.emit(type_, t, speaker, **data)

    def call_start(self, speakers: tuple[str, ...] = ("operator", "customer")) -> None:
        self.emit("call_start", 0.0, source="test.flac", sample_rate=16000, speakers=list(speakers),
                  channels=len(speakers))

    def prompt(self, pid: str, t: float, *, kind: str = "plan", priority: int = 70, title: str = "Title",
               body: str = "Body", why: dict[str, Any] | None = None, ttl: float = 30.0,
               **extra: Any) -> Event:
        return self.emit("prompt", t, "operator", id=pid, prompt=pid.split("@")[0], kind=kind,
                         priority=priority, title=title, body=body, why=why or {"cue": "test", "t": t},
                         ttl=ttl, language="en", **extra)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def screen() -> Iterator[Screen]:
    s = Screen()
    yield s
    s.stop()


def watch(page: Page) -> Page:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a Content-Security-Policy violation is reported on the console, not as a page error
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def open_page(browser: Browser, screen: Screen, viewport: dict[str, int] = WIDE, **options: Any) -> Page:
    """A new browser (context) signed in through the screen's one-time link."""
    page = watch(browser.new_context(viewport=viewport, **options).new_page())
    page.goto(screen.launch_url())
    assert page.url == screen.url                    # the token left the address bar
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def another_tab(page: Page, screen: Screen) -> Page:
    """A second tab of the same (signed-in) browser, opened at the plain address."""
    tab = watch(page.context.new_page())
    tab.goto(screen.url)
    expect(tab.locator("#connection")).to_have_attribute("data-state", "connected")
    return tab


def no_js_errors(page: Page) -> None:
    assert page.js_errors == []  # type: ignore[attr-defined]


# --- (a) the prompt card ---------------------------------------------------------------------
def test_prompt_card_shows_title_body_and_why(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    screen.prompt("plan.legal@38.40", 38.4, title="Own the escalation yourself",
                  body="Use their name and say what you can do now.",
                  why={"cue": "legal_threat", "t": 38.4, "speaker": "customer", "quote": "take you to court"})
    card = page.locator("#prompt-card")
    expect(card).to_be_visible()
    expect(page.locator("#prompt-title")).to_have_text("Own the escalation yourself")
    expect(page.locator("#prompt-body")).to_have_text("Use their name and say what you can do now.")
    expect(page.locator("#prompt-why")).to_contain_text("customer said “take you to court” at 0:38")
    expect(page.locator("#ack-used")).to_have_text("Used (U)")
    expect(page.locator("#ack-dismiss")).to_have_text("Dismiss (D / Esc)")

    # a higher-priority prompt replaces it; the why of a raised voice names the dB
    screen.prompt("listen.overlap@40.00", 40.0, kind="listen", priority=75, title="Let them finish",
                  why={"cue": "customer_raised_voice", "t": 28.5, "speaker": "customer",
                       "db_over_baseline": 12.3})
    expect(page.locator("#prompt-title")).to_have_text("Let them finish")
    expect(page.locator("#prompt-why")).to_contain_text("customer 12 dB over their usual level at 0:28")
    # a lower-priority one does not take the card: it waits, shown as "Next"
    screen.prompt("empathy.name@41.00", 41.0, kind="empathy", priority=40, title="Name the feeling")
    expect(page.locator("#prompt-next")).to_contain_text("Name the feeling")
    expect(page.locator("#prompt-title")).to_have_text("Let them finish")
    # ... and takes it when the card is dismissed
    page.keyboard.press("d")
    expect(page.locator("#prompt-title")).to_have_text("Name the feeling")
    expect(page.locator("#prompt-next")).to_be_hidden()

    # half width: still one readable column, nothing cut off sideways
    page.set_viewport_size(HALF)
    expect(page.locator("#prompt-title")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= HALF["width"]
    # a prompt past its ttl (wall clock) leaves the card
    screen.prompt("boundary.abuse@42.00", 42.0, kind="boundary", priority=90, title="Set a boundary", ttl=1.0)
    expect(page.locator("#prompt-title")).to_have_text("Set a boundary")
    expect(page.locator("#prompt-card")).to_be_hidden(timeout=3000)
    expect(page.locator("#no-prompt")).to_be_visible()
    no_js_errors(page)


# --- (b) acknowledgements reach the server ---------------------------------------------------------
def test_acknowledgements_reach_the_server(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()

    def acked(pid: str) -> list[Event]:
        return [e for e in screen.events if e.type == "prompt_ack" and e["prompt_id"] == pid]

    screen.prompt("plan.manager@37.36", 37.36, title="Own the escalation yourself")
    expect(page.locator("#prompt-title")).to_have_text("Own the escalation yourself")
    page.keyboard.press("u")
    wait_until(lambda: acked("plan.manager@37.36"), what="prompt_ack for U")
    assert screen.acks == [("plan.manager@37.36", "used")]
    assert acked("plan.manager@37.36")[0]["action"] == "used"
    expect(page.locator("#prompt-card")).to_be_hidden()

    screen.prompt("listen.overlap@44.30", 44.3, kind="listen", priority=75, title="Let them finish")
    expect(page.locator("#prompt-title")).to_have_text("Let them finish")
    page.locator("#ack-dismiss").click()
    wait_until(lambda: acked("listen.overlap@44.30"), what="prompt_ack for the Dismiss button")
    assert acked("listen.overlap@44.30")[0]["action"] == "dismissed"
    expect(page.locator("#prompt-card")).to_be_hidden()

    screen.prompt("technique.calm_down@50.00", 50.0, kind="technique", priority=50, title="Say what you will do")
    expect(page.locator("#prompt-title")).to_have_text("Say what you will do")
    page.keyboard.press("Escape")
    wait_until(lambda: acked("technique.calm_down@50.00"), what="prompt_ack for Escape")
    assert screen.acks == [("plan.manager@37.36", "used"), ("listen.overlap@44.30", "dismissed"),
                           ("technique.calm_down@50.00", "dismissed")]
    # the page reported when it painted the prompts
    report = wait_until(lambda: screen.broadcaster.latency_report("prompt").get("count", 0) >= 3
                        and screen.broadcaster.latency_report("prompt"), what="displayed reports")
    assert report["display_p50_ms"] >= report["receive_p50_ms"] >= 0
    no_js_errors(page)


# --- (c) the breathing pacer ------------------------------------------------------------------
PACER_LOG = """() => {
  const p = document.getElementById('pacer');
  window.pacerLog = [];
  const note = () => {
    const e = [p.dataset.phase, p.dataset.cycle, document.getElementById('pacer-word').textContent];
    const last = window.pacerLog[window.pacerLog.length - 1];
    if (e[0] && (!last || last.join() !== e.join())) window.pacerLog.push(e);
  };
  note();
  new MutationObserver(note).observe(p, {attributes: true, subtree: true, childList: true, characterData: true});
}"""


def test_breathe_prompt_runs_the_pacer_to_done(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    page.evaluate(PACER_LOG)
    screen.prompt("breathe.hold@47.40", 47.4, kind="breathe", priority=80, title="Hold, breathe out, return",
                  why={"cue": "escalated", "t": 47.4, "state": "escalated", "since": 37.36}, ttl=30,
                  pacer={"inhale_s": 1, "exhale_s": 1, "cycles": 2}, private=True)
    pacer = page.locator("#pacer")
    expect(pacer).to_be_visible()
    # an after-call note arrives behind it (lower priority): it waits as "Next"
    screen.prompt("plan.incident_note@48.00", 48.0, title="Write down what happened", ttl=30)
    expect(page.locator("#prompt-next")).to_contain_text("Write down what happened")
    expect(page.locator("#prompt-why")).to_contain_text("escalated since 0:37")
    expect(page.locator("#pacer-count")).to_have_text("1")
    expect(pacer).to_have_attribute("data-phase", "done", timeout=8000)
    expect(page.locator("#pacer-word")).to_have_text("Done")
    log = [tuple(e) for e in page.evaluate("window.pacerLog")]
    assert log == [("inhale", "1", "Breathe in"), ("exhale", "1", "Breathe out"),
                   ("inhale", "2", "Breathe in"), ("exhale", "2", "Breathe out"),
                   ("done", "2", "Done")], log
    # "Done" stays up a moment, then the waiting prompt takes the card
    expect(page.locator("#prompt-title")).to_have_text("Hold, breathe out, return")
    expect(page.locator("#prompt-title")).to_have_text("Write down what happened", timeout=6000)
    expect(pacer).to_be_hidden()
    page.keyboard.press("u")
    wait_until(lambda: screen.acks == [("plan.incident_note@48.00", "used")], what="ack of the next prompt")
    no_js_errors(page)


def test_pacer_respects_reduced_motion(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen, reduced_motion="reduce")
    screen.call_start()
    screen.prompt("breathe.hold@10.00", 10.0, kind="breathe", priority=80, title="Breathe",
                  pacer={"inhale_s": 1, "exhale_s": 1, "cycles": 1}, private=True)
    expect(page.locator("#pacer")).to_have_attribute("data-phase", "inhale")
    transform = "getComputedStyle(document.getElementById('pacer-circle')).transform"
    first = page.evaluate(transform)
    expect(page.locator("#pacer")).to_have_attribute("data-phase", "exhale")
    page.wait_for_timeout(300)
    assert page.evaluate(transform) == first            # no scaling, only the words and the count
    expect(page.locator("#pacer-word")).to_have_text("Breathe out")
    expect(page.locator("#pacer-count")).to_have_text("1")
    no_js_errors(page)


# --- (d) disconnect and reconnect ----------------------------------------------------------------
def test_disconnect_shows_and_reconnect_restores_from_snapshot(browser: Browser) -> None:
    first = Screen()
    port = first.server.port
    page = open_page(browser, first)
    first.call_start()
    first.emit("state", 22.4, level="tense", previous="calm", reason="repeat_contact")
    first.prompt("plan.manager@37.36", 37.36, title="Own the escalation yourself")
    expect(page.locator("#prompt-title")).to_have_text("Own the escalation yourself")

    first.stop()
    conn = page.locator("#connection")
    expect(conn).to_have_attribute("data-state", "disconnected")
    expect(conn).to_contain_text("Disconnected — reconnecting…")

    # a new server on the same port and session, already mid-call: the snapshot restores the screen
    second = Screen(port=port, call_id="restarted", access=first.access)
    try:
        second.call_start()
        second.emit("state", 37.4, level="escalated", previous="tense", reason="manager_request")
        second.emit("utterance", 35.3, "customer", t_end=37.36, text="I want to speak to your manager right now.",
                    language="en", avg_logprob=-0.1, no_speech_prob=0.01)
        second.prompt("listen.overlap@44.30", 44.3, kind="listen", priority=75, title="Let them finish")
        expect(conn).to_have_attribute("data-state", "connected", timeout=8000)
        expect(page.locator("#prompt-title")).to_have_text("Let them finish")
        expect(page.locator("#state-word")).to_have_text("ESCALATED")
        expect(page.locator("#transcript")).to_contain_text("I want to speak to your manager right now.")
        # and it is live again
        page.keyboard.press("d")
        wait_until(lambda: second.acks == [("listen.overlap@44.30", "dismissed")], what="ack after reconnect")
    finally:
        second.stop()
    no_js_errors(page)


def test_a_new_session_on_the_same_port_asks_for_its_link(browser: Browser) -> None:
    first = Screen()
    port = first.server.port
    page = open_page(browser, first)
    first.stop()
    conn = page.locator("#connection")
    expect(conn).to_have_attribute("data-state", "disconnected")
    # another calmline (a new secret) on the port: this browser's cookie is not its session's
    second = Screen(port=port, call_id="another")
    try:
        second.call_start()
        expect(conn).to_have_attribute("data-state", "signed-out", timeout=8000)
        expect(conn).to_contain_text("Not signed in")
        expect(page.locator("#state-word")).not_to_have_text("CALM")
        # its own link signs the same browser in
        page.goto(second.launch_url())
        expect(conn).to_have_attribute("data-state", "connected")
        expect(page.locator("#state-word")).to_have_text("CALM")
    finally:
        second.stop()
    no_js_errors(page)


def test_after_call_card_says_when_the_call_got_heated_not_when_it_ended(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    screen.emit("state", 22.4, level="tense", previous="calm", reason="repeat_contact")
    screen.emit("state", 37.4, level="escalated", previous="tense", reason="manager_request")
    screen.emit("state", 61.0, level="tense", previous="escalated", reason="decay")
    # the coach's after-call nudge: emitted at the call's end, why.t = the end (74 s)
    screen.prompt("breathe.after_call@74.26", 74.26, kind="breathe", priority=80, title="Reset before the next call",
                  why={"cue": "after_escalation", "t": 74.26}, ttl=60.0,
                  pacer={"inhale_s": 1, "exhale_s": 1, "cycles": 1}, private=True)
    why = page.locator("#prompt-why")
    expect(why).to_contain_text("the call got heated at 0:37")
    expect(why).not_to_contain_text("1:14")
    # a page opened after the call (snapshot only) says the same
    late = another_tab(page, screen)
    expect(late.locator("#prompt-why")).to_contain_text("the call got heated at 0:37")
    no_js_errors(page)
    no_js_errors(late)


# --- (e) the escalation band, meters, transcript, end of call ----------------------------------------
def test_state_band_shows_the_word(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    band, word = page.locator("#state-band"), page.locator("#state-word")
    expect(word).to_have_text("WAITING FOR A CALL")
    screen.call_start()
    expect(word).to_have_text("CALM")
    expect(band).to_have_attribute("data-level", "calm")
    previous = "calm"
    shapes = set()
    for t, level in ((22.4, "tense"), (37.4, "escalated"), (50.0, "abusive")):
        screen.emit("state", t, level=level, previous=previous, reason="test")
        previous = level
        expect(word).to_have_text(level.upper())
        expect(band).to_have_attribute("data-level", level)
        shapes.add(page.inner_html("#state-icon"))
    assert len(shapes) == 3                          # a different shape for each level, not just colour
    no_js_errors(page)


def test_meters_transcript_and_call_end(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    for i in range(5):
        t = 28.0 + i * 0.1
        screen.emit("level", t, "operator", dbfs=-60.0, short_term_dbfs=-58.0, baseline_dbfs=-28.0, speaking=False)
        screen.emit("level", t, "customer", dbfs=-17.0, short_term_dbfs=-18.0, baseline_dbfs=-30.0, speaking=True)
    screen.emit("raised_voice", 28.12, "customer", t_detected=28.54, db_over_baseline=12.0)
    customer = page.locator("#meter-customer")
    expect(customer).to_have_attribute("data-raised", "true")
    expect(customer).to_contain_text("RAISED +12 dB")
    expect(page.locator("#meter-operator")).to_have_attribute("data-raised", "false")
    tick = page.evaluate("document.querySelector('#meter-customer .meter-baseline').style.left")
    assert tick == "50%"                             # -30 dBFS on a -60..0 dB meter
    screen.emit("raised_voice_end", 28.12, "customer", t_end=31.96, db_over_baseline=14.9)
    expect(customer).to_have_attribute("data-raised", "false")

    # partials are greyed and replaced by the final of the same speaker and start
    screen.emit("utterance_partial", 35.3, "customer", t_end=36.3, text="I want to speak", language="en")
    partial = page.locator("#transcript-list li.partial")
    expect(partial).to_contain_text("I want to speak")
    screen.emit("utterance", 35.3, "customer", t_end=37.36, text="I want to speak to your manager right now.",
                language="en", avg_logprob=-0.1, no_speech_prob=0.01)
    expect(partial).to_have_count(0)
    expect(page.locator("#transcript-list li")).to_have_count(1)
    for i in range(8):
        screen.emit("utterance", 40.0 + i, "operator", t_end=40.5 + i, text=f"line {i}", language="en",
                    avg_logprob=-0.1, no_speech_prob=0.01)
    expect(page.locator("#transcript-list li")).to_have_count(6)
    expect(page.locator("#transcript-list li").last).to_contain_text("line 7")

    screen.emit("call_end", 74.26, duration=74.26)
    screen.emit("summary", 74.26, duration=74.26, overlaps=1, silences=1,
                speakers={"customer": {"raised_voice_count": 2, "raised_voice_s": 9.24}},
                coach={"peak_state": "escalated",
                       "prompts": {"shown": 3, "used": 1, "dismissed": 1},
                       "steps": {"listen": False, "empathy": True}})
    ended = page.locator("#call-ended")
    expect(ended).to_be_visible()
    expect(ended).to_contain_text("Call ended · 1:14")
    expect(ended).to_contain_text("ESCALATED")
    expect(ended).to_contain_text("3 shown · 1 used · 1 dismissed")
    expect(page.locator("#state-detail")).to_have_text("call ended")
    no_js_errors(page)


# --- (f) a screenshot in the middle of the escalation fixture ----------------------------------------
def escalation_events() -> list[Event]:
    """The escalation fixture through the real pipeline, transcribed, as fast as it
    runs; the call is ended early (cleanly) once the breathe prompt is out, as
    nothing after it is needed."""
    from audio.channels import map_channels
    from audio.file_source import FileSource
    from monitor.config import load_config
    from monitor.pipeline import CallInfo, CallPipeline
    from monitor.session import build_stages

    path = ROOT / "fixtures" / "escalation.flac"
    cfg = load_config(None, {"transcription": {"language": "en"}})
    source = FileSource(path)
    cmap = map_channels(source.info.channels, cfg.channel_mapping)
    bus = EventBus(path.stem)
    events: list[Event] = []
    bus.subscribe(events.append)
    enough = threading.Event()
    bus.subscribe(lambda e: enough.set() if e.type == "prompt" and e.get("kind") == "breathe" else None)
    info = CallInfo(str(path), source.info.input_rate, source.info.channels, cmap)
    parts = build_stages(cfg, bus, cmap.speakers, transcribe=True, live=False, say=lambda m: None)
    CallPipeline(cfg, bus, info, getattr(parts, "stages", parts)).run(source, stop=enough)
    return events


def test_screenshot_mid_escalation(browser: Browser, screen: Screen, tmp_path: Path) -> None:
    events = escalation_events()
    breathe = next(e for e in events if e.type == "prompt" and e["kind"] == "breathe")
    assert 40.0 < breathe.t < 50.0, breathe.t
    page = open_page(browser, screen)
    # everything the pipeline emitted up to t ~ 47.5 s, in emission order, through the breathe prompt
    for e in events:
        if e.seq > breathe.seq:
            break
        screen.emit(e.type, e.t, e.speaker, **e.data)
    expect(page.locator("#prompt-title")).to_have_text(breathe["title"])
    expect(page.locator("#pacer")).to_have_attribute("data-phase", "inhale")
    expect(page.locator("#state-word")).to_have_text("ESCALATED")
    expect(page.locator("#meter-customer")).to_be_visible()
    expect(page.locator("#transcript-list li")).to_have_count(6)
    page.wait_for_timeout(2500)                      # into the first breath, the circle growing
    shot = tmp_path / "operator-screen.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("CALMLINE_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.write_bytes(shot.read_bytes())
    no_js_errors(page)


# --- the operator sees when a supervisor listens -------------------------------------------
def test_supervisor_listening_is_shown_to_the_operator(browser: Browser, screen: Screen) -> None:
    page = open_page(browser, screen)
    screen.call_start()
    banner = page.locator("#listening")
    expect(banner).to_be_hidden()
    screen.bus.emit("listening", 5.0, on=True, by="sue")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("A supervisor is listening")
    # a page opened while listening shows it straight away (snapshot)
    late = another_tab(page, screen)
    expect(late.locator("#listening")).to_be_visible()
    screen.bus.emit("listening", 9.0, on=False, by="sue")
    expect(banner).to_be_hidden()
    no_js_errors(page)
