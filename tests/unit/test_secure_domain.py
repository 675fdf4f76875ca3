"""Issue 13: the secure-message rules, pure: dates of birth as people type them, expiry, the lock after
five wrong tries (and that it stays locked), the stored token hash, the text's wording and cost."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.core.dates import InvalidDate, birth_date_from_fields, birth_date_problem, parse_birth_date
from shared.core.errors import InvalidInput
from shared.core.segments import analyze
from shared.secure.domain import (
    DEFAULT_TTL,
    MAX_ANSWERS,
    MAX_FAILED_TRIES,
    CheckOutcome,
    LinkState,
    SecureLink,
    check_answer,
    is_token,
    link_url,
    new_token,
    notice_text,
    token_hash,
    withheld,
)

NOW = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)
BORN = date(1980, 2, 29)


def link(**changes: object) -> SecureLink:
    values: dict[str, object] = {
        "link_id": "sm_" + "A" * 22,
        "conversation_id": "c_" + "B" * 22,
        "department": "nursing",
        "phone_hmac": "ph_x",
        "token_hash": "t1:00",
        "created_at": NOW,
        "created_by": "nurse-1",
        "expires_at": NOW + DEFAULT_TTL,
    }
    values.update(changes)
    return SecureLink(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "typed", ["1980-02-29", " 1980-02-29 ", "02/29/1980", "2/29/1980", "2-29-1980", "2.29.1980", "19800229"]
)
def test_a_date_of_birth_is_read_from_the_forms_people_use(typed: str) -> None:
    assert parse_birth_date(typed, today=NOW.date()) == BORN


@pytest.mark.parametrize(
    "typed",
    [
        "1981-02-29",
        "1980-13-01",
        "1980-02-30",
        "29/02/1980x",
        "",
        "1899-12-31",
        "2030-01-01",
        "Feb 29 1980",
        "1" * 40,
    ],
)
def test_what_is_no_date_of_birth_is_refused_without_repeating_it(typed: str) -> None:
    with pytest.raises(InvalidDate) as raised:
        parse_birth_date(typed, today=NOW.date())
    assert typed.strip() == "" or typed not in str(raised.value)


def test_three_form_fields_and_the_stored_form() -> None:
    assert birth_date_from_fields("02", "29", "1980") == BORN
    assert birth_date_from_fields("2", "29", "1980") == BORN
    for fields in (
        ("02", "30", "1980"),
        ("02", "29", "80"),
        ("x", "1", "1980"),
        ("", "", ""),
        ("٢", "1", "1980"),
    ):
        with pytest.raises(InvalidDate):
            birth_date_from_fields(*fields)
    assert birth_date_problem("1980-02-29") is None
    assert birth_date_problem("02/29/1980") and birth_date_problem("1981-02-29")


def test_the_right_date_opens_and_a_wrong_one_counts_down() -> None:
    opened, outcome = link().check(BORN, BORN, NOW)
    assert outcome is CheckOutcome.PASSED and opened.opened_at == NOW
    again, outcome = opened.check(BORN, BORN, NOW + timedelta(hours=1))
    assert outcome is CheckOutcome.PASSED and again.opened_at == NOW  # first opening kept
    wrong, outcome = link().check(date(1980, 3, 1), BORN, NOW)
    assert outcome is CheckOutcome.MISMATCH and wrong.failed_tries == 1 and wrong.tries_left == 4


def test_the_fifth_wrong_date_locks_and_the_right_one_then_does_not_open() -> None:
    current = link()
    for _ in range(MAX_FAILED_TRIES - 1):
        current, outcome = current.check(date(1990, 1, 1), BORN, NOW)
        assert outcome is CheckOutcome.MISMATCH
    current, outcome = current.check(date(1990, 1, 1), BORN, NOW)
    assert outcome is CheckOutcome.LOCKED and current.locked and current.state(NOW) is LinkState.LOCKED
    after, outcome = current.check(BORN, BORN, NOW)
    assert outcome is CheckOutcome.LOCKED and after is current and after.opened_at is None


def test_a_link_expires_after_its_ttl_and_locked_wins_over_expired() -> None:
    fresh = link()
    assert fresh.state(NOW + DEFAULT_TTL - timedelta(seconds=1)) is LinkState.OPEN
    assert fresh.state(NOW + DEFAULT_TTL) is LinkState.EXPIRED
    unchanged, outcome = fresh.check(BORN, BORN, NOW + DEFAULT_TTL)
    assert outcome is CheckOutcome.EXPIRED and unchanged is fresh
    assert link(locked_at=NOW).state(NOW + DEFAULT_TTL * 2) is LinkState.LOCKED


def test_no_date_on_file_never_matches() -> None:
    _checked, outcome = link().check(BORN, None, NOW)
    assert outcome is CheckOutcome.MISMATCH


def test_answers_are_bounded() -> None:
    assert check_answer("  Thanks!\r\nSee you  ") == "Thanks!\nSee you"
    for bad in ("", "   ", "x" * 1001, "a\x00b", 42):
        with pytest.raises(InvalidInput):
            check_answer(bad)
    current = link(opened_at=NOW)
    for _ in range(MAX_ANSWERS):
        current = current.answer(NOW)
    with pytest.raises(InvalidInput):
        current.answer(NOW)
    with pytest.raises(InvalidInput):
        link(opened_at=NOW).answer(NOW + DEFAULT_TTL)


def test_the_stored_hash_is_keyed_and_never_the_token() -> None:
    token = new_token()
    assert is_token(token) and len(token) == 43 and not is_token(token + "A") and not is_token("a" * 42 + "!")
    hashed = token_hash(b"k" * 32, token)
    assert token not in hashed and hashed.startswith("t1:") and hashed != token_hash(b"j" * 32, token)
    assert hashed == token_hash(b"k" * 32, token)


def test_the_text_names_the_clinic_and_the_link_only_in_one_gsm7_segment() -> None:
    token = new_token()
    url = link_url("https://inbox.example.org/s/", token)
    assert url == f"https://inbox.example.org/s#{token}"
    text = notice_text("A" * 40, url)  # ClinicName's longest (40 characters)
    report = analyze(text)
    assert text == f"You have a secure message from {'A' * 40}: {url}"
    assert report.encoding == "GSM-7" and report.segments == 1
    longer = notice_text(
        "A" * 40, link_url("https://abcdefghij.execute-api.us-east-1.amazonaws.com/s", token)
    )
    assert analyze(longer).segments == 2
    assert (
        withheld(text)
        == f"You have a secure message from {'A' * 40}: https://inbox.example.org/s#(link withheld)"
    )
    assert token not in withheld(text)


def test_an_answers_key_is_keyed_and_names_the_link_the_session_and_the_text() -> None:
    from shared.secure.domain import answer_key

    key, other_key = b"k" * 32, b"q" * 32
    one = answer_key(key, "sm_" + "A" * 22, "session-1", "yes")
    assert one == answer_key(key, "sm_" + "A" * 22, "session-1", "yes")
    assert one.startswith("a1:") and len(one) == 3 + 64 and "yes" not in one
    assert one != answer_key(other_key, "sm_" + "A" * 22, "session-1", "yes")
    assert one != answer_key(key, "sm_" + "B" * 22, "session-1", "yes")
    assert one != answer_key(key, "sm_" + "A" * 22, "session-2", "yes")
    assert one != answer_key(key, "sm_" + "A" * 22, "session-1", "yes!")
    # the fields are separated: moving text between them is another key
    assert answer_key(key, "a", "b\nc", "d") != answer_key(key, "a", "b", "c\nd")
