"""Routing (shared.inbox.routing): the number texted, then whole-word keywords, else the default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.inbox.departments import DepartmentSettings
from shared.inbox.routing import fold, route

MAIN, BILLING_LINE, SHARED_LINE = "+12065550100", "+12065550111", "+12065550122"


def dept(keywords: list[str] = [], numbers: list[str] = []) -> DepartmentSettings:  # noqa: B006
    return DepartmentSettings(time_zone="America/New_York", keywords=keywords, numbers=numbers)


DEPARTMENTS = {
    "billing": dept(["bill", "invoice", "copay", "factura", "co-pay"], [BILLING_LINE, SHARED_LINE]),
    "nursing": dept(["refill", "prescription", "receta", "prior authorization"], [SHARED_LINE]),
    "front-desk": dept(["reschedule", "appointment"]),
}


@pytest.mark.parametrize(
    ("body", "number", "department", "rule"),
    [
        ("question about my refill", BILLING_LINE, "billing", "number"),  # the number wins
        ("Why is my BILL so high?", MAIN, "billing", "keyword"),
        ("got two bills this month", MAIN, "billing", "keyword"),  # a plural
        ("my copáy was wrong", MAIN, "billing", "keyword"),  # accent-insensitive
        ("the co-pay amount", MAIN, "billing", "keyword"),
        ("tengo una pregunta sobre mi FACTURA", MAIN, "billing", "keyword"),
        ("can I get a refill", MAIN, "nursing", "keyword"),
        ("Prescription ready?", MAIN, "nursing", "keyword"),
        ("need a prior authorization", MAIN, "nursing", "keyword"),
        ("necesito una receta", MAIN, "nursing", "keyword"),
        ("billing department please", MAIN, "front-desk", "default"),  # "bill" is not "billing"
        ("hello", MAIN, "front-desk", "default"),
        ("", MAIN, "front-desk", "default"),
        # Most distinct keywords win.
        ("refill the prescription, and the bill", MAIN, "nursing", "keyword"),
        # A tie goes to the earliest keyword in the text, then to the first name.
        ("bill for my refill", MAIN, "billing", "keyword"),
        ("refill and bill", MAIN, "nursing", "keyword"),
        # A number two departments share: keywords choose among them, else the first by name.
        ("my refill", SHARED_LINE, "nursing", "keyword"),
        ("reschedule my appointment", SHARED_LINE, "billing", "number"),
    ],
)
def test_route(body: str, number: str, department: str, rule: str) -> None:
    found = route(body, number, DEPARTMENTS, "front-desk")
    assert (found.department, found.rule) == (department, rule)


def test_a_shared_number_prefers_the_default_when_it_is_an_owner() -> None:
    departments = {**DEPARTMENTS, "front-desk": dept([], [SHARED_LINE])}
    assert route("hello", SHARED_LINE, departments, "front-desk").department == "front-desk"


def test_a_tie_in_count_and_position_goes_to_the_first_by_name() -> None:
    departments = {"zeta": dept(["form"]), "alpha": dept(["form"])}
    assert route("a form", MAIN, departments, "zeta").department == "alpha"


def test_fold() -> None:
    assert fold("Copáy? BILLS! don't") == ["copay", "bills", "dont"]


@given(st.text(max_size=120), st.sampled_from([MAIN, BILLING_LINE, SHARED_LINE]))
def test_deterministic_and_always_a_known_department(body: str, number: str) -> None:
    found = route(body, number, DEPARTMENTS, "front-desk")
    assert found == route(body, number, dict(reversed(DEPARTMENTS.items())), "front-desk")
    assert found.department in DEPARTMENTS
