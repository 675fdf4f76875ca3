"""shared.appointments.ingest: what each appointment entry is answered, with an in-memory book (no AWS)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from shared.appointments.ingest import fit_response, ingest_bundle
from shared.appointments.intake import AppointmentIntake
from shared.appointments.ports import NotReached, UpsertAnswer, UpsertResult
from tests.fixtures.fhir_samples import sample_bundle


class FakeBook:
    """Answers every upsert with the same (configurable) result and records what it was asked."""

    def __init__(self, **result: Any) -> None:
        self.seen: list[str] = []
        self.result = result

    def upsert(self, intake: AppointmentIntake) -> UpsertResult:
        self.seen.append(intake.source_id)
        return UpsertResult(intake.source_id, "created", 1, status=intake.status, **self.result)

    def upsert_many(
        self, intakes: Sequence[AppointmentIntake], *, time_left: Callable[[], float] | None = None
    ) -> list[UpsertAnswer]:
        """Like the real book, looks at the clock before each write (one per intake here)."""
        answers: list[UpsertAnswer] = []
        for intake in intakes:
            if time_left is not None and time_left() <= 0:
                answers.append(NotReached())
            else:
                answers.append(self.upsert(intake))
        return answers


def responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    Bundle.model_validate(body)
    return [entry["response"] for entry in body["entry"]]


def test_entries_not_reached_within_the_time_budget_are_503_and_never_stored() -> None:
    book = FakeBook()
    budget = iter([5.0, 0.0, -1.0])

    answer = ingest_bundle(json.dumps(sample_bundle()), book, time_left=lambda: next(budget))

    assert answer.status == 200
    assert book.seen == ["appt-5001"]
    statuses = [r["status"] for r in responses(answer.body)]
    assert statuses[4:] == ["201 Created", "503 Service Unavailable", "503 Service Unavailable"]
    issue = responses(answer.body)[5]["outcome"]["issue"][0]
    assert issue["code"] == "timeout" and "Send it again" in issue["diagnostics"]


def test_why_an_appointment_is_not_reminded_is_in_its_entry() -> None:
    warned = ingest_bundle(json.dumps(sample_bundle()), FakeBook(not_reminded="passed"), offsets=[2880, 120])
    informed = ingest_bundle(json.dumps(sample_bundle()), FakeBook(not_reminded="not_booked"))
    quiet = ingest_bundle(json.dumps(sample_bundle()), FakeBook(not_reminded="cancelled"))

    [passed] = responses(warned.body)[4]["outcome"]["issue"]
    assert passed["severity"] == "warning"
    assert (
        "every reminder time before the start (2 days, 2 hours before) has already passed"
        in (passed["diagnostics"])
    )
    [not_booked] = responses(informed.body)[4]["outcome"]["issue"]
    assert not_booked["severity"] == "information" and "only booked appointments" in not_booked["diagnostics"]
    assert "outcome" not in responses(quiet.body)[6]
    assert "outcome" not in responses(ingest_bundle(json.dumps(sample_bundle()), FakeBook()).body)[4]


def test_an_answer_too_big_for_lambda_is_cut_to_the_first_issues_of_each_entry() -> None:
    issue = {"severity": "error", "code": "value", "diagnostics": "x" * 250}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "400 Bad Request", "outcome": {"issue": [issue] * 20}}}] * 50,
    }

    trimmed = fit_response(json.loads(json.dumps(bundle)), limit=10_000)

    assert all(len(e["response"]["outcome"]["issue"]) == 3 for e in trimmed["entry"])
    assert trimmed["entry"][0]["response"]["outcome"]["issue"][2]["code"] == "too-costly"
    assert fit_response(json.loads(json.dumps(bundle))) == bundle  # small enough: unchanged
