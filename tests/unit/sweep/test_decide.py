"""The controller's rules as pure functions, tested on plain lists of events (no store, no lock)."""

import pytest

from snakesweep.record import events
from snakesweep.record.state import SweepState
from snakesweep.sweep import decide
from snakesweep.sweep.decide import Exhausted, Limits, Requeue, Suggest, Wait

BAYES = {
    "method": "bayes",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}
RANDOM = {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}}
HYPERBAND = {
    **RANDOM,
    "metric": {"name": "val_loss"},
    "early_terminate": {"type": "hyperband", "min_iter": 1},
}


def rid(index):
    return f"{index:04d}-run"


def claim(index, agent="a", attempt=1, time=0.0):
    config = {"x": index}
    engine_config = {"x": {"value": index}}
    return {**events.claim(rid(index), index, config, engine_config, agent, attempt), "time": time}


def finish(index, state="finished", value=0.5, time=0.0):
    outcome = {"state": state, "summary": {"val_loss": value}, "reason": None}
    return events.finish(rid(index), outcome, time)


def crashed(index, time=0.0):
    return {**events.crashed(rid(index), "test"), "time": time}


def metric(index, step, value, time=0.0):
    return events.metric(rid(index), step, value, time)


def state_of(*logged, max_attempts=3):
    return SweepState(max_attempts).apply_all(logged)


def policy(sweep=RANDOM, parallelism=4, max_attempts=3, timeout=10.0):
    return decide.policy_for(sweep, Limits(parallelism, timeout, max_attempts))


def test_a_fresh_sweep_suggests_index_zero():
    assert decide.next_action(state_of(), policy()) == Suggest(0)


def test_the_lowest_crashed_run_with_attempts_left_is_requeued_first():
    state = state_of(claim(0), claim(1), claim(2), crashed(2), crashed(1))
    action = decide.next_action(state, policy())
    assert isinstance(action, Requeue) and action.run.run_id == rid(1)


def test_a_run_out_of_attempts_is_settled_not_requeued():
    state = state_of(claim(0), crashed(0), claim(0, attempt=2), crashed(0), max_attempts=2)
    assert decide.next_action(state, policy(max_attempts=2)) == Suggest(1)
    assert state.settled_prefix == 1 and decide.in_flight(state, 2) == 0


def interrupted(index, time=0.0):
    return events.interrupted(rid(index), "ended by SIGTERM", time)


def test_an_interrupted_run_is_requeued_at_once_to_resume_whatever_its_attempts():
    # attempt 2 of 2 interrupted: an interruption is not the run's fault, so it is not given up
    state = state_of(
        claim(0), crashed(0), claim(0, attempt=2), interrupted(0), claim(1), max_attempts=2
    )
    action = decide.next_action(state, policy(max_attempts=2))
    assert isinstance(action, Requeue) and action.run.run_id == rid(0)
    assert decide.resumes(action.run) and action.run.attempt == 2
    assert state.settled_prefix == 0 and decide.in_flight(state, 2) == 2
    crashed_again = state_of(claim(0), crashed(0))
    assert not decide.resumes(decide.next_action(crashed_again, policy()).run)  # starts afresh


def test_an_interruption_after_the_run_finished_changes_nothing():
    state = state_of(claim(0), finish(0), interrupted(0))
    assert state.runs[rid(0)].state == "finished" and state.settled_prefix == 1


def test_run_cap_waits_while_runs_are_in_flight_then_ends():
    capped = policy({**RANDOM, "run_cap": 2})
    state = state_of(claim(0), claim(1), finish(0))
    assert isinstance(decide.next_action(state, capped), Wait)
    state.apply(finish(1))
    assert isinstance(decide.next_action(state, capped), Exhausted)


def test_an_exhausted_grid_waits_for_in_flight_runs_then_ends():
    state = state_of(claim(0))
    assert isinstance(decide.next_action(state, policy(), exhausted=True), Wait)
    state.apply(finish(0))
    assert isinstance(decide.next_action(state, policy(), exhausted=True), Exhausted)


@pytest.mark.parametrize("sweep", [BAYES, HYPERBAND], ids=["bayes", "hyperband"])
def test_suggestion_k_waits_until_runs_up_to_k_minus_w_are_settled(sweep):
    rules = policy(sweep, parallelism=2)  # at most two runs at once
    state = state_of(claim(0))
    assert decide.next_action(state, rules) == Suggest(1)  # sees the results of no run
    state.apply(claim(1))
    assert isinstance(decide.next_action(state, rules), Wait)  # 2 must see run 0's result
    state.apply(finish(1))
    assert isinstance(decide.next_action(state, rules), Wait)  # run 1 ended, but run 0 not
    state.apply(finish(0))
    assert decide.next_action(state, rules) == Suggest(2)


def test_parallelism_one_is_one_run_at_a_time_seeing_every_earlier_result():
    rules = policy(BAYES, parallelism=1)
    state = state_of(claim(0))
    assert isinstance(decide.next_action(state, rules), Wait)
    state.apply(finish(0))
    assert decide.next_action(state, rules) == Suggest(1)
    view = decide.suggestion_view(state, 1, parallelism=1, method="bayes")
    assert [(run.index, as_ended) for run, as_ended in view] == [(0, True)]


def test_random_search_never_waits_for_results():
    state = state_of(*(claim(i) for i in range(10)))
    assert decide.next_action(state, policy(RANDOM, parallelism=1)) == Suggest(10)


def test_stale_runs_are_the_running_ones_silent_for_longer_than_the_timeout():
    state = state_of(
        claim(0, time=0.0), claim(1, time=0.0), claim(2, time=0.0), finish(2, time=1.0)
    )
    state.apply({**events.heartbeat(rid(1)), "time": 50.0})
    assert [r.run_id for r in decide.stale_runs(state, now=55.0, timeout=10.0)] == [rid(0)]


def test_orphaned_runs_are_those_the_restarted_agent_still_held():
    state = state_of(claim(0, agent="a"), claim(1, agent="b"), claim(2, agent="a"), finish(2))
    assert [r.run_id for r in decide.orphaned_runs(state, "a")] == [rid(0)]


def test_bayes_sees_results_of_runs_up_to_k_minus_w_and_the_rest_in_flight():
    state = state_of(*(claim(i) for i in range(4)), finish(0), finish(1))
    view = decide.suggestion_view(state, 4, parallelism=3, method="bayes")
    assert [(run.index, as_ended) for run, as_ended in view] == [
        (0, True),
        (1, True),
        (2, False),
        (3, False),
    ]


def test_the_view_does_not_depend_on_which_later_runs_happen_to_be_done():
    slow = state_of(*(claim(i) for i in range(4)), finish(0), finish(1))
    fast = state_of(*(claim(i) for i in range(4)), finish(0), finish(1), finish(2), finish(3))

    def as_seen(state):
        return [
            (r.index, r.state if ended else "in flight")
            for r, ended in decide.suggestion_view(state, 4, 3, "bayes")
        ]

    assert as_seen(slow) == as_seen(fast)


def test_grid_sees_only_configs_and_random_sees_nothing():
    state = state_of(claim(0), finish(0), claim(1))
    assert [ended for _, ended in decide.suggestion_view(state, 2, 1, "grid")] == [False, False]
    assert decide.suggestion_view(state, 2, 1, "random") == []


def test_a_stop_decision_for_run_k_looks_at_runs_up_to_k_minus_w_only():
    state = state_of(*(claim(i) for i in range(4)), *(finish(i) for i in range(3)))
    run = state.runs[rid(3)]
    assert [r.index for r in decide.stop_peers(state, run, parallelism=2)] == [0, 1]
    assert decide.stop_peers(state, run, parallelism=4) == []


def test_state_keeps_a_finished_run_finished_whatever_a_late_event_says():
    state = state_of(
        claim(0), finish(0), claim(0, agent="late", attempt=2), crashed(0), metric(0, 1, 9.0)
    )
    run = state.runs[rid(0)]
    assert run.state == "finished" and run.agent == "a" and run.history == []


def test_a_requeued_run_starts_a_fresh_history_and_stop_flag():
    state = state_of(
        claim(0),
        metric(0, 1, 0.9),
        {**events.stop(rid(0), 1), "time": 0.0},
        crashed(0),
    )
    assert state.runs[rid(0)].stopped_at == 1
    state.apply(claim(0, agent="b", attempt=2))
    run = state.runs[rid(0)]
    assert (
        run.history == []
        and not run.should_stop
        and run.stopped_at is None
        and run.agents == ["a", "b"]
    )


def test_settled_prefix_counts_only_leading_settled_runs():
    state = state_of(claim(0), claim(1), claim(2), finish(1), finish(2))
    assert state.settled_prefix == 0
    state.apply(finish(0, state="failed"))
    assert state.settled_prefix == 3
