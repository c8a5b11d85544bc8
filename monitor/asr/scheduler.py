"""Model calls in the order that matters, never late: a small scheduler that one
call uses today and that a server with many calls can share.

    sched = Scheduler(max_age_s=3.0)                 # one worker thread
    lane = sched.open("call-42", idle=make_idle_job, on_delay=show_delay)
    # make_idle_job(free) -> a Job of a tier in ``free`` (SPECULATION, PARTIAL), or None
    lane.submit(Job(Tier.CUSTOMER_FINAL, "customer", heard_at, seconds, run=transcribe))
    # run(deadline) makes the model call and publishes only if deadline.ok()
    ...
    lane.drain(); lane.close(); sched.shutdown()

**Order.**  Finals go first, the customer's before the operator's
(:class:`Tier`); speculative finals and partial transcripts are *idle work*: a
worker asks the calls for them (``idle``, the least recently served call first)
only when no final waits anywhere.  Between calls in the same tier, the call
served least recently goes first (per-call fairness: a busy call cannot starve a
quiet one).

**Two slots per call.**  A call's finals and speculations take turns in its
*main* slot, one at a time, so its transcripts come out in order and a final
finds its speculation done; a partial runs in the call's *side* slot.  With
two workers (and a model with two of its own, see ``calmline live``) a
speculation or final starts at once on the second core while a partial is
under way instead of waiting for it: that wait was most of a long turn's lag.
The scheduler tells a partial to give up (``Deadline.cancelled``) when a final
waits that no free worker can take (the call may have reasons of its own).

**Never late.**  A job's age is the time since the newest audio in it came in
(``heard_at``: when the pipeline had it, so a live call's capture buffer, tens
of milliseconds, comes on top; for merged jobs the oldest part counts).  A final whose result
would come out older than ``max_age_s`` (its age plus its expected cost: the
caller's hint, else the recent cost of a model call) is dropped before it runs
(``stale``); one that comes out older anyway is dropped after (``late``), never
delivered.  Each call holds at most
``queue_max`` finals; beyond that the lowest-tier, oldest one is dropped
(``full``).  So the backlog is bounded in length and in age.

**Shedding, in a fixed order.**  While the transcript is *delayed* (a final was
dropped as too old or for room in the last ``hold_s``: a slow but timely one is
not a delay) no idle work is handed out (partials and speculations are shed
first); while a *customer* final is the one dropped, operator finals are dropped
too (``shed``), so what capacity there is goes to the customer.  Every drop is counted per call
and the lane's ``on_delay(on, info)`` hears each change, so the screen can say
"transcript delayed" honestly.  ``hold_s`` after the last delay everything is
made again.

The scheduler knows nothing about models: a job's ``run`` makes the model call
(on a worker thread) and publishes its result if its deadline allows; it belongs
to the call.  Time comes from ``clock`` (injectable for tests).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from monitor.asr.jobs import DROP_REASONS, Job, LaneStats, Tier

__all__ = ["DROP_REASONS", "Deadline", "Job", "Lane", "LaneStats", "Scheduler", "Tier"]


class Deadline:
    """A running job's view of time: in time to publish, or given up."""

    def __init__(self, sched: "Scheduler", job: Job) -> None:
        self._sched = sched
        self._job = job
        self.late = False
        self.published_at: float | None = None

    def ok(self) -> bool:
        """True (and the result counts as published now) unless it is too old."""
        now = self._sched.clock()
        self.late = now - self._job.oldest_at > self._sched.max_age_s
        if not self.late:
            self.published_at = now
        return not self.late

    def cancelled(self) -> bool:
        """Idle work only: a final is waiting, so give up."""
        return not self._job.tier.final and self._sched.finals_waiting()


class Lane:
    """One call's place in the scheduler (made by :meth:`Scheduler.open`)."""

    def __init__(self, sched: "Scheduler", call_id: str, queue_max: int,
                 idle: Callable[[], Job | None] | None,
                 on_delay: Callable[[bool, dict[str, Any]], None] | None) -> None:
        self.sched = sched
        self.call_id = call_id
        self.queue_max = queue_max
        self.idle = idle
        self.on_delay = on_delay
        self.queue: deque[Job] = deque()
        self.running = 0                 # jobs in the main slot (finals, speculations): 0 or 1
        self.side_running = 0            # the side slot (a partial, or a piece of a long turn): 0 or 1
        self.last_served = -1.0
        self.stats = LaneStats()
        self.delayed_until = -1.0        # clock time the delay state lapses
        self.customer_delayed_until = -1.0
        self.delayed = False             # as last told to on_delay
        self.closed = False

    # --- the call's side -------------------------------------------------------------
    def submit(self, job: Job, merge: Callable[[Job, Job], bool] | None = None) -> None:
        self.sched.submit(self.call_id, job, merge)

    def poke(self) -> None:
        """New audio came in: idle work may be due."""
        self.sched.poke()

    def clear(self, reason: str = "hurry") -> int:
        """Drop every waiting job (a second Ctrl-C); how many parts were dropped."""
        return self.sched.clear(self.call_id, reason)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until this call's finals are all done or dropped."""
        return self.sched.drain(self.call_id, timeout)

    def close(self) -> None:
        self.sched.close_lane(self.call_id)

    def waiting(self) -> int:
        with self.sched._cv:
            return len(self.queue)

    @property
    def busy(self) -> bool:
        return bool(self.running or self.side_running)

    def free_idle_tiers(self) -> frozenset[Tier]:
        """The idle work this call has room for now."""
        free = set()
        if not self.running:
            free.add(Tier.SPECULATION)
        if not self.side_running:
            free.add(Tier.PARTIAL)
        return frozenset(free)

    def slot_free(self, tier: Tier) -> bool:
        return not (self.side_running if tier == Tier.PARTIAL else self.running)

    def occupy(self, tier: Tier, by: int) -> None:
        if tier == Tier.PARTIAL:
            self.side_running += by
        else:
            self.running += by


class Scheduler:
    def __init__(self, *, max_age_s: float = 3.0, workers: int = 1, hold_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, start: bool = True) -> None:
        self.max_age_s = max_age_s
        self.hold_s = hold_s
        self.clock = clock
        self.lanes: dict[str, Lane] = {}
        self._cv = threading.Condition()
        self._shutdown = False
        self._pokes = 0
        self.cost_s = 0.0                # moving average of a model call's wall time
        self._active = 0                 # jobs running now
        self._threads: list[threading.Thread] = []
        if start:
            for k in range(workers):
                th = threading.Thread(target=self._work, name=f"transcriber-{k}", daemon=True)
                th.start()
                self._threads.append(th)

    # --- lanes ------------------------------------------------------------------------
    def open(self, call_id: str, *, queue_max: int = 6,
             idle: Callable[[frozenset[Tier]], Job | None] | None = None,
             on_delay: Callable[[bool, dict[str, Any]], None] | None = None) -> Lane:
        with self._cv:
            if call_id in self.lanes:
                raise ValueError(f"call {call_id!r} already has a lane")
            lane = Lane(self, call_id, queue_max, idle, on_delay)
            self.lanes[call_id] = lane
            return lane

    def close_lane(self, call_id: str) -> None:
        self.clear(call_id, "closed")
        with self._cv:
            lane = self.lanes.pop(call_id, None)
            if lane is not None:
                lane.closed = True
            self._cv.notify_all()

    def stats(self, call_id: str) -> dict[str, Any]:
        """A call's counters (see :class:`LaneStats`)."""
        with self._cv:
            lane = self.lanes.get(call_id)
            return lane.stats.as_dict() if lane is not None else {}

    def lags(self, call_id: str) -> list[float]:
        """Seconds from the newest audio of each published final to its publication."""
        with self._cv:
            lane = self.lanes.get(call_id)
            return list(lane.stats.lags) if lane is not None else []

    # --- submitting ---------------------------------------------------------------------
    def submit(self, call_id: str, job: Job, merge: Callable[[Job, Job], bool] | None = None) -> None:
        """Queue a final for ``call_id``; ``merge(waiting, job)`` may fold it into a job of
        the same speaker still waiting (True when it did)."""
        drops: list[tuple[Job, str]] = []
        with self._cv:
            lane = self.lanes[call_id]
            lane.stats.submitted += 1
            now = self.clock()
            if self._shutdown or lane.closed:
                drops.append((job, "closed"))
            elif job.tier == Tier.OPERATOR_FINAL and now < lane.customer_delayed_until:
                drops.append((job, "shed"))
            else:
                drops += self._enqueue(lane, job, merge, now)
            for dropped, reason in drops:
                self._count_drop(lane, dropped, reason, now)
            self._cv.notify_all()
        self._tell(drops)

    def _enqueue(self, lane: Lane, job: Job, merge: Callable[[Job, Job], bool] | None,
                 now: float) -> list[tuple[Job, str]]:
        same = [q for q in lane.queue if q.speaker == job.speaker]
        if (merge is not None and same
                and now - same[-1].oldest_at + self.cost_s < self.max_age_s and merge(same[-1], job)):
            same[-1].parts += job.parts
            same[-1].seconds += job.seconds
            same[-1].heard_at = max(same[-1].heard_at, job.heard_at)
            lane.stats.merged += 1
            return []
        drops = []
        if len(lane.queue) >= lane.queue_max:
            victim = max(lane.queue, key=lambda q: (q.tier, -q.oldest_at))
            if (victim.tier, -victim.oldest_at) < (job.tier, -job.oldest_at):
                return [(job, "full")]          # the newcomer is the least important
            lane.queue.remove(victim)
            drops.append((victim, "full"))
        lane.queue.append(job)
        lane.stats.backlog_max = max(lane.stats.backlog_max, len(lane.queue))
        return drops

    def poke(self) -> None:
        with self._cv:
            self._pokes += 1
            self._cv.notify_all()

    def clear(self, call_id: str, reason: str) -> int:
        with self._cv:
            lane = self.lanes.get(call_id)
            if lane is None:
                return 0
            drops = [(job, reason) for job in lane.queue]
            lane.queue.clear()
            now = self.clock()
            for job, _ in drops:
                self._count_drop(lane, job, reason, now, delay=False)
            self._cv.notify_all()
        self._tell(drops)
        return sum(job.parts for job, _ in drops)

    def drain(self, call_id: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while True:
                lane = self.lanes.get(call_id)
                if lane is None or (not lane.queue and not lane.busy):
                    return True
                if not self._threads:       # nobody works but step() (start=False)
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(timeout=0.05 if left is None else min(0.05, left))

    def shutdown(self) -> None:
        with self._cv:
            self._shutdown = True
            self._cv.notify_all()
        for th in self._threads:
            th.join()

    # --- the delay state ------------------------------------------------------------------
    def _count_drop(self, lane: Lane, job: Job, reason: str, now: float, delay: bool = True) -> None:
        if job.tier.final:
            lane.stats.dropped[reason] += job.parts
            if delay and reason not in ("shed", "closed", "hurry"):
                self._mark_delayed(lane, job, now)

    def _mark_delayed(self, lane: Lane, job: Job, now: float) -> None:
        lane.delayed_until = now + self.hold_s
        if job.tier == Tier.CUSTOMER_FINAL:
            lane.customer_delayed_until = now + self.hold_s

    def _delay_changes(self, now: float) -> list[tuple[Lane, bool, dict[str, Any]]]:
        """Lanes whose delayed state changed (told outside the lock)."""
        out = []
        for lane in self.lanes.values():
            on = now < lane.delayed_until
            if on != lane.delayed:
                lane.delayed = on
                if on:
                    lane.stats.delays += 1
                shed = ["partials"] + (["operator"] if now < lane.customer_delayed_until else [])
                oldest = min((q.oldest_at for q in lane.queue if q.tier.final), default=now)
                out.append((lane, on, {"shed": shed if on else [],
                                       "behind_s": round(max(0.0, now - oldest), 3),
                                       "dropped": sum(lane.stats.dropped[r] for r in
                                                      ("stale", "late", "full", "shed"))}))
        return out

    def _tell(self, drops: list[tuple[Job, str]],
              changes: list[tuple[Lane, bool, dict[str, Any]]] | None = None) -> None:
        for job, reason in drops:
            job.dropped(reason)
        if changes is None:
            with self._cv:
                changes = self._delay_changes(self.clock())
        for lane, on, info in changes:
            if lane.on_delay is not None:
                lane.on_delay(on, info)

    # --- the worker -----------------------------------------------------------------------
    def _pick_final(self, now: float, drops: list[tuple[Job, str]]) -> tuple[Lane, Job] | None:
        """The next final to run (called under the lock); stale ones are dropped.  A
        call's main slot runs one job at a time, so its results come out in order."""
        while True:
            best: tuple[Any, Lane, Job] | None = None
            for lane in self.lanes.values():
                if lane.running:
                    continue
                for job in lane.queue:
                    key = (job.tier, lane.last_served, job.oldest_at)
                    if best is None or key < best[0]:
                        best = (key, lane, job)
            if best is None:
                return None
            _, lane, job = best
            lane.queue.remove(job)
            if job.tier == Tier.OPERATOR_FINAL and now < lane.customer_delayed_until:
                reason = "shed"
            elif now - job.oldest_at + self.expected(job) > self.max_age_s:
                reason = "stale"
            else:
                return lane, job
            self._count_drop(lane, job, reason, now)
            drops.append((job, reason))

    def _take(self) -> tuple[Lane, Job] | None:
        """A final, else idle work, else None (never waits)."""
        drops: list[tuple[Job, str]] = []
        with self._cv:
            now = self.clock()
            picked = self._pick_final(now, drops)
            if picked is not None:
                picked[0].running += 1
                self._active += 1
            idle_lanes = [] if picked is not None or self._shutdown else sorted(
                ((ln, ln.free_idle_tiers()) for ln in self.lanes.values()
                 if ln.idle is not None and now >= ln.delayed_until),
                key=lambda item: item[0].last_served)
            changes = self._delay_changes(now)
        self._tell(drops, changes)
        if picked is not None:
            return picked
        for lane, free in idle_lanes:
            if not free:
                continue
            job = lane.idle(free)            # the call's own lock; never under ours
            if job is None:
                continue
            with self._cv:
                if not (lane.closed or not lane.slot_free(job.tier) or self._finals_runnable()):
                    lane.occupy(job.tier, 1)
                    self._active += 1
                    return lane, job
            job.dropped("preempted")         # a final came in meanwhile: it goes first
            return None
        return None

    def _next(self) -> tuple[Lane, Job] | None:
        """The next job for a worker, waiting for one (None: shut down)."""
        while True:
            with self._cv:
                pokes = self._pokes
            picked = self._take()
            if picked is not None:
                return picked
            with self._cv:
                if self._shutdown:
                    return None
                if self._pokes == pokes and not self._finals_runnable():
                    self._cv.wait(timeout=0.05)

    def step(self) -> bool:
        """Run one job on the calling thread (a scheduler made with ``start=False``,
        e.g. in tests with an injected clock); False when there was nothing to do."""
        picked = self._take()
        if picked is None:
            return False
        self._run(*picked)
        return True

    def _finals_runnable(self) -> bool:
        """A final waits whose call's main slot is free."""
        return any(lane.queue and not lane.running for lane in self.lanes.values())

    def _work(self) -> None:
        while True:
            picked = self._next()
            if picked is None:
                return
            self._run(*picked)

    def expected(self, job: Job) -> float:
        """What running ``job`` will likely cost: its own hint (a final whose
        speculation is done costs nothing), else the recent average."""
        return self.cost_s if job.expected_s is None else job.expected_s

    @property
    def workers(self) -> int:
        """Jobs run at once (``step()`` alone, without threads, runs one)."""
        return max(1, len(self._threads))

    def finals_waiting(self) -> bool:
        """A final waits that could run now but no worker is free for it (idle work
        under way should give its worker up)."""
        with self._cv:
            return self._finals_runnable() and self._active >= self.workers

    def _run(self, lane: Lane, job: Job) -> None:
        deadline = Deadline(self, job)
        started = self.clock()
        try:
            job.run(deadline)
        except Exception:                # the call counts its own failures; the worker goes on
            with self._cv:
                lane.stats.errors += 1
        finally:
            now = self.clock()
            took = now - started
            with self._cv:
                self.cost_s = took if self.cost_s == 0.0 else 0.7 * self.cost_s + 0.3 * took
                lane.last_served = now
                lane.stats.model_seconds += took
                if not job.tier.final:
                    lane.stats.idle_jobs += 1
                    lane.stats.late_idle += deadline.late
                elif deadline.late:
                    self._count_drop(lane, job, "late", now)
                elif deadline.published_at is not None:
                    lane.stats.done += job.parts
                    lane.stats.lags.append(deadline.published_at - job.heard_at)
                lane.occupy(job.tier, -1)
                self._active -= 1
                self._cv.notify_all()
        if deadline.late and job.tier.final:
            job.dropped("late")
