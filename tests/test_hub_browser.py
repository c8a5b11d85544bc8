"""The supervisor dashboard in a real browser: headless Chromium (the system's
/usr/bin/chromium, never a downloaded one) driven by Playwright against the hub
running on a free loopback port, over a store seeded with realistic calls."""

import math
import socket
import struct
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no system Chromium at /usr/bin/chromium (make test installs it: scripts/install-system-deps --test)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

from monitor.event_bus import EventBus  # noqa: E402
from monitor.hub.app import create_hub_app  # noqa: E402
from monitor.hub.auth import add_user, revoke_user  # noqa: E402
from monitor.hub.publisher import HubPublisher  # noqa: E402
from monitor.hub.store import Store  # noqa: E402
from monitor.report.summary import SummaryBuilder  # noqa: E402
from monitor.web.server import WebServer  # noqa: E402

expect = sync_api.expect
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tone(seconds, rate=16000, hz=220.0):
    n = int(seconds * rate)
    return struct.pack(f"<{n}h", *(int(3000 * math.sin(2 * math.pi * hz * k / rate)) for k in range(n)))


def _prompt(t, pid, kind="plan", title="Acknowledge and offer the formal route"):
    return ("prompt", t, "operator", dict(
        id=f"{pid}@{t:.2f}", prompt=pid, kind=kind, priority=70, title=title,
        body="Say you understand, and that you can open a formal complaint today.",
        why={"cue": "legal_threat", "t": t, "quote": "take you to court"}, ttl=15.0, language="en"))


def _utt(t, t_end, speaker, text):
    return ("utterance", t, speaker, dict(t_end=t_end, text=text, language="en",
                                          avg_logprob=-0.25, no_speech_prob=0.02))


ESCALATED_CALL = [
    ("speech_start", 1.0, "customer", {}),
    _utt(1.0, 4.2, "customer", "I have been waiting three weeks for this refund"),
    ("speech_end", 1.0, "customer", dict(t_end=4.2)),
    _utt(4.8, 7.0, "operator", "I understand, let me look at your account"),
    ("level", 8.0, "customer", dict(dbfs=-14.0, short_term_dbfs=-15.0, baseline_dbfs=-24.0)),
    ("state", 8.0, None, dict(level="tense", previous="calm", reason="customer_raised_voice", score=2.1)),
    ("raised_voice", 9.0, "customer", dict(t_detected=9.4, db_over_baseline=8.5)),
    _utt(9.0, 13.0, "customer", "This is ridiculous, I will take you to court over this"),
    ("trigger", 9.0, "customer", dict(category="legal_threat", id="en.legal.court", text="take you to court",
                                      span=[26, 43], partial=False, t_detected=13.0, language="en")),
    ("state", 13.2, None, dict(level="escalated", previous="tense", reason="legal_threat", score=4.0)),
    _prompt(13.3, "plan.legal"),
]

CALM_CALL = [
    _utt(0.5, 2.5, "operator", "Good morning, you are speaking with Omar"),
    _utt(3.0, 6.0, "customer", "Hello, I would like to change my delivery address"),
    _utt(6.5, 8.0, "operator", "Of course, I can do that for you"),
]

ABUSE_CALL = [
    _utt(2.0, 5.0, "customer", "You are all useless idiots"),
    ("trigger", 2.0, "customer", dict(category="abuse", id="en.abuse.idiot", text="useless idiots",
                                      span=[12, 26], partial=False, t_detected=5.0, language="en")),
    ("state", 5.1, None, dict(level="abusive", previous="calm", reason="abuse", score=6.0)),
    ("state", 40.0, None, dict(level="calm", previous="abusive", reason="decay", score=0.5)),
    ("call_end", 42.0, None, dict(duration=42.0)),
]

OLD_CALL = [
    _utt(1.0, 3.0, "customer", "Just checking my balance please"),
    ("call_end", 60.0, None, dict(duration=60.0)),
]


def record(store, call_id, operator, script, *, ago=0.0, summary=False):
    """Store a call's events as the hub would have received them ``ago`` seconds ago."""
    now = time.time() - ago
    store.ensure_call(call_id, operator, now)
    bus = EventBus(call_id)
    builder = SummaryBuilder()
    bus.subscribe(builder)
    bus.subscribe(lambda e: store.add_event(call_id, e.to_dict(), now))
    bus.emit("call_start", 0.0, source="sip:line-3", sample_rate=16000, input_rate=8000, channels=2,
             speakers=["operator", "customer"])
    for kind, t, speaker, fields in script:
        bus.emit(kind, t, speaker, **fields)
    if summary:
        bus.emit("summary", bus_end(script), **builder.build())
    if ago:
        store.execute("UPDATE calls SET started_at = ?, last_event_at = ? WHERE id = ?", (now, now, call_id))


def bus_end(script):
    return max(t for _, t, _, _ in script)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Hub:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.store = Store(tmp_path / "hub.db")
        self.tokens = {name: add_user(self.store, name, role) for name, role in
                       (("sue", "supervisor"), ("olga", "operator"), ("omar", "operator"),
                        ("pat", "operator"), ("gone", "supervisor"))}
        revoke_user(self.store, "gone")
        record(self.store, "c-calm", "omar", CALM_CALL)
        record(self.store, "c-esc", "olga", ESCALATED_CALL)
        self.store.add_clip("c-esc", 8.0, 14.0, "legal_threat", 16000, tone(6.0), time.time())
        record(self.store, "c-abuse", "pat", ABUSE_CALL, ago=600, summary=True)
        record(self.store, "c-old", "olga", OLD_CALL, ago=2 * 86400, summary=True)
        self.port = free_port()
        self.server = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def start(self):
        self.server = WebServer(create_hub_app(self.store), "127.0.0.1", self.port)
        self.server.start()

    def stop(self):
        self.server.stop()

    def publisher(self, call_id, user):
        return HubPublisher(self.url, self.tokens[user], call_id, spool_dir=self.tmp_path / f"spool-{call_id}",
                            retry_max_s=0.3)


@pytest.fixture()
def hub(tmp_path):
    h = Hub(tmp_path)
    yield h
    h.stop()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors, elsewhere = [], []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    local = ("http://127.0.0.1:", "ws://127.0.0.1:", "blob:", "data:", "about:")
    pg.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))
    pg.on("websocket", lambda ws: None if ws.url.startswith(local) else elsewhere.append(ws.url))
    pg.set_default_timeout(8000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not elsewhere, f"the page fetched from elsewhere than the hub: {elsewhere}"


def sign_in(page, hub, user):
    page.goto(hub.url)
    page.fill("#token", hub.tokens[user])
    page.click("#sign-in")


def row_ids(page):
    return page.locator("#calls tbody tr").evaluate_all("rows => rows.map(r => r.dataset.callId)")


def wait_rows(page, want, timeout=8.0):
    deadline = time.monotonic() + timeout
    while True:
        got = row_ids(page)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"table rows {got}, wanted {want}")
        time.sleep(0.05)


def row(page, call_id):
    return page.locator(f'#calls tbody tr[data-call-id="{call_id}"]')


def test_supervisor_sees_live_calls_sorted_with_state_words(hub, page):
    sign_in(hub=hub, page=page, user="sue")
    expect(page.locator("#who")).to_have_text("sue (supervisor)")
    # live first (escalated above calm), then the flagged call that has ended; the
    # old calm call is not on the live list
    wait_rows(page, ["c-esc", "c-calm", "c-abuse"])
    esc = row(page, "c-esc")
    expect(esc.locator(".badge")).to_have_text("ESCALATED")
    expect(esc).to_contain_text("LIVE")
    expect(esc).to_contain_text("take you to court")
    expect(esc).to_contain_text("legal threat")
    expect(esc.locator("td.duration")).to_have_text("0:13")
    expect(row(page, "c-calm").locator(".badge")).to_have_text("CALM")
    abuse = row(page, "c-abuse")
    expect(abuse).to_contain_text("ended")
    expect(abuse).to_contain_text("peak: abusive")
    expect(abuse.locator(".flags")).to_contain_text("abuse")
    expect(page.locator("#conn")).to_have_text("live updates on")
    # the token is kept for the tab: a reload signs straight back in
    page.reload()
    expect(page.locator("#who")).to_have_text("sue (supervisor)")
    page.click("#sign-out")
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


@pytest.mark.parametrize("token", ["not-a-token", "revoked"])
def test_a_wrong_or_revoked_token_shows_the_401_message(hub, page, token):
    page.goto(hub.url)
    page.fill("#token", hub.tokens["gone"] if token == "revoked" else token)
    page.click("#sign-in")
    expect(page.locator("#signin-error")).to_contain_text("401")
    expect(page.locator("#signin-error")).to_contain_text("wrong, or it has been revoked")
    expect(page.locator("#app")).to_be_hidden()


def test_an_operator_is_told_the_dashboard_is_for_supervisors_and_sees_own_calls(hub, page):
    sign_in(page, hub, "olga")
    expect(page.locator("#message")).to_contain_text("this dashboard is for supervisors; you can see your own calls")
    wait_rows(page, ["c-esc", "c-old"])            # her calls only (all of them)
    expect(page.locator("#tab-audit")).to_be_hidden()


def test_a_published_event_updates_the_table_without_a_reload(hub, page):
    sign_in(page, hub, "sue")
    wait_rows(page, ["c-esc", "c-calm", "c-abuse"])
    page.evaluate("window.__same_page = true")
    bus = EventBus("c-new")
    publisher = hub.publisher("c-new", "omar")
    bus.subscribe(publisher)
    try:
        bus.emit("call_start", 0.0, source="sip:line-7", sample_rate=16000, input_rate=8000, channels=2,
                 speakers=["operator", "customer"])
        bus.emit("state", 3.0, level="tense", previous="calm", reason="customer_raised_voice", score=2.0)
        expect(row(page, "c-new").locator(".badge")).to_have_text("TENSE")
        wait_rows(page, ["c-esc", "c-new", "c-calm", "c-abuse"])
        bus.emit("utterance", 4.0, "customer", t_end=7.5, text="you people are useless idiots", language="en",
                 avg_logprob=-0.3, no_speech_prob=0.01)
        bus.emit("trigger", 4.0, "customer", category="abuse", id="en.abuse.idiot", text="useless idiots",
                 span=[15, 29])
        bus.emit("state", 7.6, level="abusive", previous="tense", reason="abuse", score=6.0)
        expect(row(page, "c-new").locator(".badge")).to_have_text("ABUSIVE")
        wait_rows(page, ["c-new", "c-esc", "c-calm", "c-abuse"])
        expect(row(page, "c-new")).to_contain_text("useless idiots")
        expect(row(page, "c-new").locator(".flags")).to_contain_text("abuse")
    finally:
        publisher.close(timeout=5)
    assert page.evaluate("window.__same_page") is True


def test_filters_narrow_the_list(hub, page):
    sign_in(page, hub, "sue")
    wait_rows(page, ["c-esc", "c-calm", "c-abuse"])
    page.select_option("#filter-state", "escalated")
    wait_rows(page, ["c-esc"])
    page.select_option("#filter-state", "calm")
    wait_rows(page, ["c-calm", "c-abuse"])        # current state: the abuse call calmed down
    page.select_option("#filter-since", "7d")
    wait_rows(page, ["c-calm", "c-abuse", "c-old"])
    page.select_option("#filter-since", "hour")
    wait_rows(page, ["c-calm", "c-abuse"])
    page.select_option("#filter-state", "")
    page.select_option("#filter-since", "7d")
    page.fill("#filter-operator", "olga")
    wait_rows(page, ["c-esc", "c-old"])
    page.click("#filter-clear")
    wait_rows(page, ["c-esc", "c-calm", "c-abuse"])


def test_the_call_view_shows_the_report_and_clips_and_playing_a_clip_is_audited(hub, page):
    sign_in(page, hub, "sue")
    row(page, "c-esc").click()
    frame = page.frame_locator("#call-view iframe")
    # the first report of the process compiles its templates: slow on a loaded machine
    expect(frame.locator("body")).to_contain_text("I have been waiting three weeks for this refund",
                                                  timeout=20_000)
    expect(frame.locator("body")).to_contain_text("I understand, let me look at your account")
    clip = page.locator("#clips li")
    expect(clip).to_have_count(1)
    expect(clip).to_contain_text("legal threat")
    expect(clip).to_contain_text("0:08–0:14")
    assert hub.store.audit_log() == []
    clip.locator("button.play").click()
    expect(page.locator("#clip-player")).to_be_visible()
    deadline = time.monotonic() + 5
    while not hub.store.audit_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    (entry,) = hub.store.audit_log()
    assert (entry["user_name"], entry["action"], entry["call_id"]) == ("sue", "listen_clip", "c-esc")
    assert entry["duration_s"] == 6.0
    assert page.eval_on_selector("#clip-player", "a => a.src.startsWith('blob:')")
    # ... and the Audit tab lists it
    page.click("#tab-audit")
    audit_row = page.locator("#audit tbody tr")
    expect(audit_row).to_have_count(1)
    expect(audit_row).to_contain_text("sue")
    expect(audit_row).to_contain_text("listen clip")
    expect(audit_row).to_contain_text("c-esc")
    expect(audit_row.locator("td.num")).to_have_text("0:06")


def test_listening_live_plays_the_calls_audio_and_is_audited(hub, page):
    bus = EventBus("c-audio")
    publisher = hub.publisher("c-audio", "olga")
    bus.subscribe(publisher)
    try:
        bus.emit("call_start", 0.0, source="sip:line-2", sample_rate=16000, input_rate=8000, channels=2,
                 speakers=["operator", "customer"])
        sign_in(page, hub, "sue")
        row(page, "c-audio").click()
        page.click("#listen")
        expect(page.locator("#listen-status")).to_have_text("listening… (audited)")
        deadline = time.monotonic() + 5
        while not publisher.listening and time.monotonic() < deadline:
            time.sleep(0.02)
        assert publisher.listening                  # the operator's side is told
        chunk = tone(0.02, hz=440.0)
        for _ in range(50):                          # a second of audio, in 20 ms chunks
            publisher.send_audio(chunk)
            time.sleep(0.02)
        page.wait_for_function("window.calmline.listen.samples >= 16000")
        page.click("#listen")
        expect(page.locator("#listen-status")).to_be_hidden()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            entries = hub.store.audit_log()
            if entries and entries[0]["duration_s"] is not None:
                break
            time.sleep(0.05)
        (entry,) = hub.store.audit_log()
        assert (entry["user_name"], entry["action"], entry["call_id"]) == ("sue", "listen_live", "c-audio")
        assert entry["duration_s"] >= 1.0
    finally:
        publisher.close(timeout=5)


def test_the_page_reconnects_when_the_hub_comes_back(hub, page):
    sign_in(page, hub, "sue")
    wait_rows(page, ["c-esc", "c-calm", "c-abuse"])
    hub.stop()
    expect(page.locator("#conn")).to_contain_text("reconnecting")
    record(hub.store, "c-while-down", "pat", [("state", 2.0, None, dict(
        level="escalated", previous="calm", reason="customer_raised_voice", score=3.5))])
    hub.start()
    expect(page.locator("#conn")).to_have_text("live updates on", timeout=10000)
    wait_rows(page, ["c-esc", "c-while-down", "c-calm", "c-abuse"])   # both escalated: the one with a trigger first
