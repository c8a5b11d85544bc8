"""serve's shared transcription pool: customer first, fair across calls, shedding in
its fixed order (counted per call), and the stage hooks that route a live call's
model calls into it."""

import threading
import time

import numpy as np
import pytest

from audio.channels import map_channels
from monitor.asr.engine import Transcript
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.ingest.pool import PoolParams, Shed, TranscriptionPool
from monitor.ingest.pooled_stage import PooledStage
from monitor.pipeline import CallInfo, CallPipeline
from tests.signals import track


class GatedEngine:
    """Each model call waits for the test to let it through; records the order."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.gate = threading.Semaphore(0)

    def transcribe(self, samples, language, beam_size, fallback=None):
        self.gate.acquire()
        self.order.append(str(samples.tag) if hasattr(samples, "tag") else "?")
        return Transcript(f"words {len(self.order)}", language or "en", 0.9, -0.3, 0.05, 1.2)


class Tagged(np.ndarray):
    pass


def tagged(tag: str) -> np.ndarray:
    arr = np.zeros(1600, np.float32).view(Tagged)
    arr.tag = tag
    return arr


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def submit(share, kind, speaker, tag, results, heard_at=None):
    def run():
        try:
            results[tag] = share.transcribe(kind, speaker, tagged(tag), "en", 1, heard_at).text
        except Shed:
            results[tag] = "shed"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_pending(pool, n):
    deadline = time.monotonic() + 5
    while len(pool._pending) != n:
        assert time.monotonic() < deadline, f"{len(pool._pending)} pending, expected {n}"
        time.sleep(0.005)


def test_customer_finals_go_first_and_calls_take_turns():
    engine, clock = GatedEngine(), Clock()
    pool = TranscriptionPool(engine, PoolParams(operator_delay_s=1.5), clock=clock)
    a, b, c = pool.join("a"), pool.join("b"), pool.join("c")
    results = {}
    threads = [submit(a, "final", "customer", "busy", results)]
    wait_pending(pool, 0)                     # the worker holds it
    time.sleep(0.05)
    for share, speaker, tag in ((a, "operator", "a-op"), (b, "customer", "b-cu"), (c, "customer", "c-cu")):
        clock.now += 0.5
        threads.append(submit(share, "final", speaker, tag, results))
        wait_pending(pool, len(threads) - 1)
    for _ in threads:
        engine.gate.release()
    for t in threads:
        t.join(5)
    # a's operator words queued first but count 1.5 s later: both customers go before them
    assert engine.order == ["busy", "b-cu", "c-cu", "a-op"]
    assert all(v.startswith("words") for v in results.values())
    stats = a.stats()
    assert stats["shared_by_calls_max"] == 3 and stats["jobs"] == 2 and stats["shed"] == {}
    pool.close()


def test_partials_and_speculations_run_only_on_an_idle_worker():
    engine = GatedEngine()
    pool = TranscriptionPool(engine)
    share = pool.join("a")
    engine.gate.release()
    assert share.transcribe("partial", "customer", tagged("p1"), "en", 1).text == "words 1"   # idle: runs
    results = {}
    busy = submit(share, "final", "customer", "busy", results)
    time.sleep(0.05)
    with pytest.raises(Shed):
        share.transcribe("partial", "customer", tagged("p2"), "en", 1)
    with pytest.raises(Shed):
        share.transcribe("speculation", "operator", tagged("s1"), "en", 1)
    engine.gate.release()
    busy.join(5)
    assert share.stats()["shed"] == {"partials": 1, "speculative_finals": 1}
    assert engine.order == ["p1", "busy"]
    pool.close()


def test_a_stale_operator_final_is_shed_while_others_wait_and_customer_finals_never():
    engine, clock = GatedEngine(), Clock()
    pool = TranscriptionPool(engine, PoolParams(operator_shed_after_s=4.0), clock=clock)
    a, b, c = pool.join("a"), pool.join("b"), pool.join("c")
    results = {}
    threads = [submit(c, "final", "customer", "busy", results)]
    time.sleep(0.05)
    threads.append(submit(a, "final", "operator", "a-op", results, heard_at=clock.now - 1.0))
    wait_pending(pool, 1)
    threads.append(submit(b, "final", "customer", "b-cu", results, heard_at=clock.now - 30.0))
    wait_pending(pool, 2)
    clock.now += 5.0                           # a's words are now 6 s old, b's 35 s
    for _ in range(3):
        engine.gate.release()
    for t in threads:
        t.join(5)
    assert results["a-op"] == "shed" and results["b-cu"].startswith("words")
    assert a.stats()["shed"] == {"operator_finals": 1} and b.stats()["shed"] == {}
    assert "operator finals" in a.stats()["shed_order"]
    pool.close()


class FakeEngine:
    def __init__(self, delay=0.0):
        self.delay = delay
        self.calls = 0

    def transcribe(self, samples, language, beam_size, fallback=None):
        self.calls += 1
        time.sleep(self.delay)
        return Transcript(f"utterance {self.calls}", language or "en", 0.95, -0.3, 0.05, 1.2)


class Blocks:
    def __init__(self, data, block=1600):
        self.data, self.block = data, block

    def blocks(self):
        for start in range(0, self.data.shape[1], self.block):
            yield self.data[:, start:start + self.block]


def live_call(pool, call_id, data):
    cfg = load_config()
    cmap = map_channels(data.shape[0], None)
    bus = EventBus(call_id)
    events = []
    bus.subscribe(events.append)
    stage = PooledStage(bus, cmap.speakers, pool.join(call_id), cfg)
    summary = CallPipeline(cfg, bus, CallInfo("t", 16000, data.shape[0], cmap), [stage]).run(Blocks(data))
    return events, summary


def test_two_live_calls_share_one_engine_and_say_so_in_their_summaries():
    engine = FakeEngine(delay=0.05)
    pool = TranscriptionPool(engine)
    op = track(("voice", 1.2, -30), ("gap", 2.0), ("voice", 1.0, -30), ("gap", 1.5))
    cu = track(("gap", 1.6), ("voice", 1.5, -30), ("gap", 2.6))
    data = np.stack([op[: cu.size], cu[: op.size]])
    out = {}

    def run(call_id):
        out[call_id] = live_call(pool, call_id, data)

    threads = [threading.Thread(target=run, args=(f"call-{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for call_id, (events, summary) in out.items():
        utts = [e for e in events if e.type == "utterance"]
        tr = summary["transcription"]
        assert {u.speaker for u in utts} == {"operator", "customer"}
        assert tr["mode"] == "live" and tr["errors"] == 0
        pool_stats = tr["pool"]
        assert pool_stats["jobs"] >= len(utts) and pool_stats["shared_by_calls_max"] == 2
        assert pool_stats["shed_order"][0] == "partial transcripts"
        # a busy pool is not asked again and again: at most one shed per utterance
        assert pool_stats["shed"].get("speculative_finals", 0) <= len(utts)
    assert pool.calls == 0                       # both calls left the pool at their end
    assert engine.calls == pool.jobs_run
    pool.close()


def test_a_shed_job_is_not_an_error_of_the_call():
    pool = TranscriptionPool(FakeEngine())
    bus = EventBus("x")
    stage = PooledStage(bus, ("customer",), pool.join("x"), load_config())
    stage._failed(Shed("partial shed"))
    stage._failed(RuntimeError("the model broke"))
    assert stage.errors == 1 and stage.first_error.startswith("RuntimeError")
    # the hooks this stage relies on are still the stage's own
    for name in ("_run", "_run_partial", "_transcribe", "_failed", "_work", "_speculation_due"):
        assert callable(getattr(super(PooledStage, stage), name))
    pool.close()
