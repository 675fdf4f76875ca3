from __future__ import annotations

import pytest

from shared.appointments.wording import location_line


def test_address_is_preferred_over_the_site_name() -> None:
    assert location_line("Riverside Oncology Wing", "1200 Harbor Ave, Seattle") == "1200 Harbor Ave, Seattle"


@pytest.mark.parametrize(
    "name", ["Riverside Oncology Wing", "HIV Care Clinic", "Behavioral Health Annex", "Dialysis Center North"]
)
def test_a_name_that_reveals_a_condition_never_reaches_a_text(name: str) -> None:
    assert location_line(name, None) is None


def test_a_neutral_site_name_is_used_when_there_is_no_address() -> None:
    assert location_line("Riverside Main Campus", None) == "Riverside Main Campus"
    assert location_line(None, None) is None
