"""Delivery records: attempt histories are bounded; the total count survives the trimming."""

from __future__ import annotations

import uuid

from worker.contract import Attempt, Delivery, ExecutionStatus, Response
from worker.contract.notification import MAX_ATTEMPTS_KEPT


def delivery(attempts: list[Attempt] | None = None) -> Delivery:
    response = Response.model_validate(
        {
            "text": "t",
            "status": "triggered",
            "trace_metadata": {
                "id": str(uuid.uuid4()),
                "received_at": 0,
                "response_at": 0,
                "execution_time": 0.0,
            },
            "action_result": {"type": "PASSTHROUGH", "value": "t"},
        }
    )
    return Delivery(
        id="msg_1",
        url="https://h.example/a",
        ruleset_index=0,
        ruleset_status=ExecutionStatus.TRIGGERED,
        response=response,
        created_at=0,
        attempts=attempts or [],
    )


def test_a_history_keeps_the_first_and_the_latest_attempts_and_counts_them_all() -> None:
    record = delivery()
    for n in range(3 * MAX_ATTEMPTS_KEPT):
        record = record.with_attempt(Attempt(at=n, outcome=f"http_{500 + n}"))
        assert len(record.attempts) == min(n + 1, MAX_ATTEMPTS_KEPT)
        assert record.attempted() == record.attempt_count == n + 1
    assert record.attempts[0].at == 0  # when the trouble began
    latest = list(range(3 * MAX_ATTEMPTS_KEPT - (MAX_ATTEMPTS_KEPT - 1), 3 * MAX_ATTEMPTS_KEPT))
    assert [a.at for a in record.attempts[1:]] == latest
    # The bound is what a round trip through Kafka carries too.
    assert Delivery.model_validate_json(record.model_dump_json()) == record


def test_records_of_older_notifiers_count_their_history_without_skipped_attempts() -> None:
    # Older notifiers wrote no count, and recorded `circuit_open` for a delivery they skipped
    # while the endpoint's breaker was open: no attempt was made.
    old = delivery(
        [
            Attempt(at=1, outcome="http_503"),
            Attempt(at=2, outcome="circuit_open"),
            Attempt(at=3, outcome="circuit_open"),
            Attempt(at=4, outcome="timeout"),
        ]
    )
    assert old.attempt_count == 0
    assert old.attempted() == 2
    assert old.with_attempt(Attempt(at=5, outcome="http_503")).attempt_count == 3
