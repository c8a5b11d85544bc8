"""The transcription scheduler: customer first, idle work last, never late, bounded,
shedding in a fixed order, fair between calls.  A fake clock and ``step()`` (no
worker threads) make every case exact; one case uses real workers, with events."""

import threading

import pytest

from monitor.asr.scheduler import Job, Scheduler, Tier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def job(log, name, tier, heard_at, *, cost=0.0, clock=None, publish=True, speaker=None):
    """A job that logs its name when it runs, takes ``cost`` seconds of the fake
    clock, and logs '<name> shown' when its deadline lets it publish."""
    def run(deadline):
        log.append(name)
        if clock is not None:
            clock.now += cost
        if publish and deadline.ok():
            log.append(f"{name} shown")
    speaker = speaker or ("operator" if tier == Tier.OPERATOR_FINAL else "customer")
    return Job(tier, speaker, heard_at, 1.0, run=run)


def drain(sched):
    while sched.step():
        pass


def test_customer_finals_first_then_operator_then_idle_work():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    idle = [job(log, "partial", Tier.PARTIAL, clock.now)]
    lane = sched.open("a", idle=lambda free: idle.pop() if idle else None)
    lane.submit(job(log, "op", Tier.OPERATOR_FINAL, clock.now - 0.5))      # older, but the operator's
    lane.submit(job(log, "cu", Tier.CUSTOMER_FINAL, clock.now))
    drain(sched)
    assert [x for x in log if not x.endswith("shown")] == ["cu", "op", "partial"]
    assert sched.stats("a")["done"] == 2 and sched.stats("a")["idle_jobs"] == 1


def test_calls_take_turns_within_a_tier():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    a, b = sched.open("a", queue_max=10), sched.open("b")
    for k in range(3):
        a.submit(job(log, f"a{k}", Tier.CUSTOMER_FINAL, clock.now - 0.1 + k * 0.01))
    b.submit(job(log, "b0", Tier.CUSTOMER_FINAL, clock.now))       # queued last
    drain(sched)
    order = [x for x in log if not x.endswith("shown")]
    assert order.index("b0") <= 1          # a busy call does not starve a quiet one


def test_a_final_that_would_come_out_too_old_is_dropped_unrun_and_counted():
    clock, log = Clock(), []
    told = []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0)
    lane = sched.open("a", on_delay=lambda on, info: told.append((on, info)))
    lane.submit(job(log, "old", Tier.CUSTOMER_FINAL, clock.now - 3.5))
    lane.submit(job(log, "new", Tier.CUSTOMER_FINAL, clock.now - 0.2))
    drain(sched)
    assert log == ["new", "new shown"]
    stats = sched.stats("a")
    assert stats["dropped"] == {"stale": 1} and stats["done"] == 1
    assert told and told[0][0] is True and told[0][1]["dropped"] == 1


def test_a_result_that_comes_out_too_old_is_not_shown():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0)
    lane = sched.open("a")
    lane.submit(job(log, "slow", Tier.CUSTOMER_FINAL, clock.now - 1.0, cost=2.5, clock=clock))
    drain(sched)
    assert log == ["slow"]                                  # ran, never shown
    assert sched.stats("a")["dropped"] == {"late": 1}
    assert sched.lags("a") == []


def test_published_lag_is_measured_from_the_newest_audio():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a")
    lane.submit(job(log, "x", Tier.CUSTOMER_FINAL, clock.now - 0.5, cost=0.3, clock=clock))
    drain(sched)
    assert sched.lags("a") == [pytest.approx(0.8)]


def test_the_backlog_is_bounded_and_the_least_important_goes_first():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a", queue_max=2)
    lane.submit(job(log, "cu1", Tier.CUSTOMER_FINAL, clock.now))
    lane.submit(job(log, "op1", Tier.OPERATOR_FINAL, clock.now))
    lane.submit(job(log, "cu2", Tier.CUSTOMER_FINAL, clock.now))     # full: the operator's goes
    lane.submit(job(log, "op2", Tier.OPERATOR_FINAL, clock.now))     # full of customers: refused
    assert lane.waiting() == 2
    drain(sched)
    assert [x for x in log if not x.endswith("shown")] == ["cu1", "cu2"]
    assert sched.stats("a")["dropped"] == {"full": 2} and sched.stats("a")["backlog_max"] == 2


def test_while_a_customer_final_is_late_idle_work_and_operator_finals_are_shed():
    clock, log, told = Clock(), [], []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0, hold_s=10.0)
    idle = []
    lane = sched.open("a", idle=lambda free: idle.pop() if idle else None,
                      on_delay=lambda on, info: told.append((on, list(info["shed"]))))
    lane.submit(job(log, "cu-stale", Tier.CUSTOMER_FINAL, clock.now - 4.0))
    sched.step()                               # dropped: the transcript is delayed
    assert told == [(True, ["partials", "operator"])]
    idle.append(job(log, "partial", Tier.PARTIAL, clock.now))
    lane.submit(job(log, "op", Tier.OPERATOR_FINAL, clock.now))      # shed at once
    lane.submit(job(log, "cu", Tier.CUSTOMER_FINAL, clock.now))
    drain(sched)
    assert [x for x in log if not x.endswith("shown")] == ["cu"]    # no partial, no operator
    assert sched.stats("a")["dropped"] == {"stale": 1, "shed": 1}
    clock.now += 10.5                          # the hold is over: everything again
    drain(sched)
    assert told[-1] == (False, [])
    assert "partial" in log


def test_an_operator_delay_sheds_only_idle_work():
    clock, log, told = Clock(), [], []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0)
    lane = sched.open("a", on_delay=lambda on, info: told.append(list(info["shed"])))
    lane.submit(job(log, "op-stale", Tier.OPERATOR_FINAL, clock.now - 4.0))
    lane.submit(job(log, "op", Tier.OPERATOR_FINAL, clock.now))
    drain(sched)
    assert told[0] == ["partials"] and "op shown" in log


def test_merging_folds_a_final_into_one_of_the_same_speaker_still_waiting():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a")
    merged = []

    def merge(waiting, new):
        merged.append((waiting.payload, new.payload))
        return True
    first = job(log, "one", Tier.CUSTOMER_FINAL, clock.now - 1.0)
    first.payload = "one"
    second = job(log, "two", Tier.CUSTOMER_FINAL, clock.now)
    second.payload = "two"
    lane.submit(first, merge)
    lane.submit(second, merge)
    assert merged == [("one", "two")] and lane.waiting() == 1
    assert first.parts == 2 and first.heard_at == clock.now and first.oldest_at == clock.now - 1.0
    assert sched.stats("a")["merged"] == 1


def test_idle_work_is_told_to_give_up_when_a_final_comes_in():
    # one worker: the final can only run once the partial gives its worker up
    clock, seen = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a")

    def partial(deadline):
        seen.append(deadline.cancelled())
        lane.submit(Job(Tier.CUSTOMER_FINAL, "customer", clock.now, 1.0, run=lambda d: None))
        seen.append(deadline.cancelled())
    jobs = [Job(Tier.PARTIAL, "customer", clock.now, 5.0, run=partial)]
    lane.idle = lambda free: jobs.pop() if jobs else None
    sched.step()
    assert seen == [False, True]


def test_one_job_per_call_at_a_time_with_several_workers():
    sched = Scheduler(workers=2)
    lane_a, lane_b = sched.open("a"), sched.open("b")
    gate, started = threading.Event(), []
    b_ran = threading.Event()

    def blocking(deadline):
        started.append("a1")
        gate.wait(5)

    lane_a.submit(Job(Tier.CUSTOMER_FINAL, "customer", sched.clock(), 1.0, run=blocking))
    lane_a.submit(Job(Tier.CUSTOMER_FINAL, "customer", sched.clock(), 1.0,
                      run=lambda d: started.append("a2")))
    lane_b.submit(Job(Tier.CUSTOMER_FINAL, "customer", sched.clock(), 1.0,
                      run=lambda d: (started.append("b1"), b_ran.set())))
    assert b_ran.wait(5)                      # the second worker serves the other call ...
    assert "a2" not in started                # ... never a second job of a busy one
    gate.set()
    assert lane_a.drain(5)
    assert started.index("a2") > started.index("a1")
    sched.shutdown()


def test_with_two_workers_a_final_runs_beside_a_partial_of_its_call():
    """The final of a long turn must not wait for the partial under way when the
    turn ends: the second worker takes it, and the partial is not told to give up
    (a free worker could take the final)."""
    sched = Scheduler(workers=2)
    partial_started, gate, final_done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def partial(deadline):
        partial_started.set()
        gate.wait(5)
        seen.append(deadline.cancelled())

    jobs = [Job(Tier.PARTIAL, "customer", sched.clock(), 5.0, run=partial)]
    offered_meanwhile = []
    offered_again = threading.Event()

    def idle(free):
        if partial_started.is_set() and not gate.is_set():
            offered_meanwhile.append(free)
            offered_again.set()
        return jobs.pop() if jobs and Tier.PARTIAL in free else None

    lane = sched.open("a", idle=idle)
    lane.poke()
    assert partial_started.wait(5)
    lane.submit(Job(Tier.CUSTOMER_FINAL, "customer", sched.clock(), 1.0,
                    run=lambda d: final_done.set()))
    assert final_done.wait(5)                 # ran while the partial still held its worker
    assert offered_again.wait(5)
    gate.set()
    assert lane.drain(5)
    assert seen == [False]
    # while the partial ran, the free worker was offered speculations only
    assert offered_meanwhile and all(free == {Tier.SPECULATION} for free in offered_meanwhile)
    sched.shutdown()


def test_one_partial_per_call_and_speculations_one_at_a_time():
    clock = Clock()
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a", idle=lambda free: None)
    assert lane.free_idle_tiers() == {Tier.SPECULATION, Tier.PARTIAL}
    lane.occupy(Tier.PARTIAL, 1)
    assert lane.free_idle_tiers() == {Tier.SPECULATION}
    lane.occupy(Tier.SPECULATION, 1)
    assert lane.free_idle_tiers() == set()
    lane.occupy(Tier.PARTIAL, -1)
    assert lane.free_idle_tiers() == {Tier.PARTIAL}


def test_an_idle_job_handed_out_as_a_final_comes_in_is_told_it_was_dropped():
    clock, dropped = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a")

    def idle(free):
        # the call hands out a speculation, and a final arrives before it starts
        lane.submit(Job(Tier.CUSTOMER_FINAL, "customer", clock.now, 1.0, run=lambda d: d.ok()))
        return Job(Tier.SPECULATION, "customer", clock.now, 1.0, run=lambda d: None,
                   dropped=dropped.append)
    lane.idle = idle
    assert sched.step() is False               # the speculation did not start ...
    assert dropped == ["preempted"]            # ... and its call knows (it may undo marks)
    lane.idle = None
    assert sched.step() is True                # the final runs next
    assert sched.stats("a")["done"] == 1


def test_closing_a_call_drops_what_waits_and_counts_it():
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False)
    lane = sched.open("a")
    lane.submit(job(log, "x", Tier.CUSTOMER_FINAL, clock.now))
    assert lane.clear("hurry") == 1
    assert sched.stats("a")["dropped"] == {"hurry": 1}
    lane.close()
    assert "a" not in sched.lanes


def test_a_final_expected_to_cost_nothing_is_not_dropped_for_the_average_cost():
    # a final whose speculative transcript is already made takes no model call:
    # the recent average cost (1.2 s here) must not count it as too old
    clock, log = Clock(), []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0)
    lane = sched.open("a")
    lane.submit(job(log, "slow", Tier.CUSTOMER_FINAL, clock.now, cost=1.2, clock=clock))
    drain(sched)
    assert sched.cost_s == pytest.approx(1.2)
    ready = job(log, "ready", Tier.CUSTOMER_FINAL, clock.now - 2.5)
    ready.expected_s = 0.0
    guess = job(log, "guess", Tier.CUSTOMER_FINAL, clock.now - 2.5)
    lane.submit(ready)
    lane.submit(guess)
    drain(sched)
    assert "ready shown" in log and "guess" not in log
    assert sched.stats("a")["dropped"] == {"stale": 1}


def test_a_slow_but_timely_final_is_no_delay_and_sheds_nothing():
    clock, log, told = Clock(), [], []
    sched = Scheduler(clock=clock, start=False, max_age_s=3.0)
    idle = [job(log, "partial", Tier.PARTIAL, clock.now)]
    lane = sched.open("a", idle=lambda free: idle.pop() if idle else None,
                      on_delay=lambda on, info: told.append(on))
    lane.submit(job(log, "slow", Tier.CUSTOMER_FINAL, clock.now - 0.5, cost=2.0, clock=clock))
    sched.step()                               # shown 2.5 s after the words: slow, in time
    lane.submit(job(log, "op", Tier.OPERATOR_FINAL, clock.now))
    drain(sched)
    assert log == ["slow", "slow shown", "op", "op shown", "partial", "partial shown"]
    assert told == [] and sched.stats("a")["dropped"] == {}
