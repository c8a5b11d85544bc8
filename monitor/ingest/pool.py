"""One transcription pool for every call a ``calmline serve`` process takes, used
where the asr wing's own scheduler cannot be shared between calls (a live stage
without ``scheduler=``; see :func:`monitor.ingest.service.shared_transcription`).

One model is loaded once and shared; each call's live transcription stage
(:mod:`monitor.ingest.pooled_stage`) hands its model calls to the pool instead
of running them itself.  A call's stage has one worker, so it waits on at most
one job at a time: the pool holds at most one job per call, which bounds it by
the number of calls (itself bounded by ``serve --max-calls``).

Which job runs next (fair, customer first):

1. finals (a whole utterance, possibly several merged) before speculative
   finals, and those before partial transcripts;
2. among finals, the one waiting longest, where an operator's final counts as
   queued ``operator_delay_s`` later than it was: the customer's words come
   first, and an operator's are never starved for longer than that.  Every call
   has at most one job waiting, so waiting longest is round-robin across calls.

What is shed under load, always in this order (each counted for its call and
stated in that call's summary under ``transcription.pool``):

1. **partial transcripts** — run only on an otherwise idle worker;
2. **speculative finals** — likewise (the final then takes its ordinary turn);
3. **operator finals** — one that has waited ``operator_shed_after_s`` since the
   speech ended, while other calls' finals wait too, is dropped (its audio still
   counts for every acoustic cue; only its words are missing);
4. **customer finals** — never shed by the pool; only the call's own bounded
   queue, once full, skips its oldest utterance (``transcription.skipped``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from monitor.asr.engine import Engine, Transcript

KINDS = ("final", "speculation", "partial")
_RANK = {"final": 0, "speculation": 1, "partial": 2}
SHED_ORDER = ("partial transcripts", "speculative finals", "operator finals", "customer finals (queue full)")


class Shed(Exception):
    """The pool did not transcribe this job (load shedding, counted per call)."""


@dataclass(frozen=True)
class PoolParams:
    workers: int = 1                    # model calls at once (one model, shared)
    operator_delay_s: float = 1.5       # customer first: operator finals queue this much later
    operator_shed_after_s: float = 4.0  # under load an operator final older than this is dropped

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 16:
            raise ValueError("workers must be between 1 and 16")
        if not 0.0 <= self.operator_delay_s <= 30.0 or not 0.5 <= self.operator_shed_after_s <= 120.0:
            raise ValueError("operator_delay_s must be 0-30 s and operator_shed_after_s 0.5-120 s")


@dataclass
class _Job:
    share: "CallShare"
    kind: str
    speaker: str
    work: Callable[[Engine], Transcript]     # the model call, given the shared engine
    queued_at: float
    heard_at: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Transcript | None = None
    error: BaseException | None = None

    def finish(self, result: Transcript | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()

    @property
    def operator(self) -> bool:
        return self.speaker == "operator"


class TranscriptionPool:
    """See the module docstring.  ``clock`` is injectable for tests."""

    def __init__(self, engine: Engine, params: PoolParams = PoolParams(), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.p = params
        self.clock = clock
        self._cv = threading.Condition()
        self._pending: list[_Job] = []
        self._busy = 0
        self._calls: set[CallShare] = set()
        self._closed = False
        self.jobs_run = 0
        self.shed_total = 0
        self._workers = [threading.Thread(target=self._work, name=f"asr-pool-{i}", daemon=True)
                         for i in range(params.workers)]
        for worker in self._workers:
            worker.start()

    # --- calls ---------------------------------------------------------------------
    def join(self, call_id: str) -> "CallShare":
        """A call's handle on the pool (leave with :meth:`CallShare.leave`)."""
        share = CallShare(self, call_id)
        with self._cv:
            self._calls.add(share)
            for other in self._calls:
                other.calls_max = max(other.calls_max, len(self._calls))
        return share

    def _leave(self, share: "CallShare") -> None:
        with self._cv:
            self._calls.discard(share)

    @property
    def calls(self) -> int:
        with self._cv:
            return len(self._calls)

    def idle(self) -> bool:
        """Whether a worker is free and nothing waits (partials and speculations run then)."""
        with self._cv:
            return self._idle()

    def _idle(self) -> bool:
        return not self._pending and self._busy < len(self._workers)

    # --- jobs ----------------------------------------------------------------------
    def run(self, job: _Job) -> Transcript:
        with self._cv:
            if self._closed:
                raise Shed("the pool is closed")
            if job.kind != "final" and not self._idle():
                job.share.count_shed(job.kind, job.speaker)
                raise Shed(f"{job.kind} shed: the pool is busy")
            self._pending.append(job)
            self._cv.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _pick(self) -> _Job | None:
        """The next job (called under the lock); sheds what the policy drops."""
        now = self.clock()
        finals = [j for j in self._pending if j.kind == "final"]
        for job in list(self._pending):
            if job.kind != "final" and finals:              # 1, 2: only on an idle worker
                self._drop(job)
            elif (job.kind == "final" and job.operator and len(finals) > 1
                  and now - job.heard_at > self.p.operator_shed_after_s):
                self._drop(job)                              # 3: stale operator words
                finals.remove(job)
        if not self._pending:
            return None

        def key(j: _Job) -> tuple[int, float]:
            delay = self.p.operator_delay_s if (j.kind == "final" and j.operator) else 0.0
            return _RANK[j.kind], j.queued_at + delay

        job = min(self._pending, key=key)
        self._pending.remove(job)
        return job

    def _drop(self, job: _Job) -> None:
        self._pending.remove(job)
        job.share.count_shed(job.kind, job.speaker)
        self.shed_total += 1
        job.finish(error=Shed(f"{job.kind} shed under load"))

    def _work(self) -> None:
        while True:
            with self._cv:
                job = None
                while job is None:
                    if self._closed:
                        return
                    job = self._pick()
                    if job is None:
                        self._cv.wait(timeout=0.5)
                self._busy += 1
            started = self.clock()
            try:
                result = job.work(self.engine)
            except Exception as exc:       # the call's stage counts it as an error
                job.finish(error=exc)
            else:
                job.finish(result)
            finally:
                took = self.clock() - started
                job.share.record(job, started, took)
                with self._cv:
                    self._busy -= 1
                    self.jobs_run += 1
                    self._cv.notify_all()

    def close(self) -> None:
        """Stop the workers; jobs still waiting are shed."""
        with self._cv:
            self._closed = True
            for job in list(self._pending):
                self._drop(job)
            self._cv.notify_all()
        for worker in self._workers:
            worker.join(timeout=30)


class CallShare:
    """One call's use of the pool: its jobs and what was shed, for its summary."""

    def __init__(self, pool: TranscriptionPool, call_id: str) -> None:
        self.pool = pool
        self.call_id = call_id
        self.calls_max = 1
        self.shed: dict[str, int] = {}
        self.waits: list[float] = []
        self.model_s = 0.0
        self.jobs = 0
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self.pool.engine

    def run(self, kind: str, speaker: str, work: Callable[[Engine], Transcript],
            heard_at: float | None = None) -> Transcript:
        """Run one model call (``work`` with the shared engine) through the pool, in its
        turn (blocks); raises :class:`Shed`.  ``heard_at``: when the speech ended."""
        now = self.pool.clock()
        job = _Job(self, kind, speaker, work, queued_at=now, heard_at=now if heard_at is None else heard_at)
        return self.pool.run(job)

    def transcribe(self, kind: str, speaker: str, samples: np.ndarray, language: str | None,
                   beam: int, heard_at: float | None = None) -> Transcript:
        """:meth:`run` for a plain ``engine.transcribe(samples, language, beam)``."""
        return self.run(kind, speaker, lambda engine: engine.transcribe(samples, language, beam), heard_at)

    def count_shed(self, kind: str, speaker: str) -> None:
        name = {"partial": "partials", "speculation": "speculative_finals"}.get(kind, f"{speaker}_finals")
        with self._lock:
            self.shed[name] = self.shed.get(name, 0) + 1

    def record(self, job: _Job, started: float, took: float) -> None:
        with self._lock:
            self.jobs += 1
            self.model_s += took
            if job.kind == "final":
                self.waits.append(max(0.0, started - job.queued_at))

    def leave(self) -> None:
        self.pool._leave(self)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "shared_by_calls_max": self.calls_max,
                "workers": len(self.pool._workers),
                "jobs": self.jobs,
                "model_s": round(self.model_s, 3),
                "shed": dict(sorted(self.shed.items())),
                "shed_order": list(SHED_ORDER),
            }
            if self.waits:
                w = np.array(self.waits)
                out["wait_s"] = {"p50": round(float(np.percentile(w, 50)), 3),
                                 "p95": round(float(np.percentile(w, 95)), 3),
                                 "max": round(float(w.max()), 3)}
        return out
