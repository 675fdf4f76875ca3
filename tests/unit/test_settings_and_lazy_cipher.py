"""Issue 11 §4 (cold start): the settings models read the environment without pydantic-settings, and the
PHI cipher loads the Encryption SDK only when a record's PHI is first encrypted or decrypted."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import ValidationError

from shared.appointments.settings import ReminderSettings
from shared.crypto import wiring as crypto_wiring
from shared.crypto.wiring import LazyCipher
from shared.runtime import wiring
from shared.runtime.settings import CoreSettings, EnvSettings

CORE = {
    "CLINIC_NAME": "Lakeside Clinic",
    "SUPPORT_CONTACT": "206-555-0100",
    "DATA_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/data",
    "BLIND_INDEX_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/index",
    "CONSENT_TABLE": "consent",
    "MESSAGES_TABLE": "messages",
    "DELIVERY_TABLE": "delivery",
    "IDEMPOTENCY_TABLE": "idempotency",
    "APPOINTMENTS_TABLE": "appointments",
    "REMINDERS_TABLE": "reminders",
    "CONTROL_TABLE": "control",
}


@pytest.fixture
def core_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in CORE.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_settings_come_from_the_environment_coerced_and_validated(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("FANOUT_LOOKBACK_HOURS", "12")
    core_env.setenv("send_rate_parts_per_second", "2.5")  # any case, as before
    core_env.setenv("UNRELATED_VARIABLE", "ignored")
    settings = ReminderSettings.from_env()
    assert settings.clinic_name == "Lakeside Clinic"
    assert settings.fanout_lookback_hours == 12
    assert settings.parts_per_second == 2.5
    assert settings.default_time_zone == "America/New_York"  # the default when the variable is unset
    assert ReminderSettings.from_env(fanout_lookback_hours=3).fanout_lookback_hours == 3  # arguments win
    with pytest.raises(ValidationError):
        settings.clinic_name = "Other"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FREQUENCY_CAP_PER_DAY", "25"),  # over its bound
        ("FANOUT_LOOKBACK_HOURS", "a day"),  # not a number
        ("DEFAULT_TIME_ZONE", "Mars/Olympus_Mons"),  # the model's own validator
        ("CLINIC_NAME", ""),  # too short
    ],
)
def test_a_bad_variable_is_refused(core_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    core_env.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        ReminderSettings.from_env()
    assert refused.value.errors()[0]["loc"] == (name.lower(),)


def test_a_missing_required_variable_is_refused(core_env: pytest.MonkeyPatch) -> None:
    core_env.delenv("CONSENT_TABLE")
    with pytest.raises(ValidationError, match="consent_table"):
        CoreSettings.from_env()


def test_settings_do_not_load_pydantic_settings() -> None:
    assert EnvSettings.__mro__[1].__module__.startswith("pydantic")
    assert all(not base.__module__.startswith("pydantic_settings") for base in ReminderSettings.__mro__)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def encrypt(self, record_ref: str, payload: dict[str, Any]) -> str:
        self.calls.append(("encrypt", record_ref))
        return "ct:" + record_ref

    def decrypt(self, record_ref: str, ciphertext: str) -> dict[str, Any]:
        self.calls.append(("decrypt", record_ref))
        return {"ct": ciphertext}


def test_the_lazy_cipher_builds_the_real_one_once_on_first_use() -> None:
    built: list[_Recorder] = []

    def build() -> _Recorder:
        built.append(_Recorder())
        return built[-1]

    lazy = LazyCipher(build)
    assert built == [] and not lazy.built
    threads = [threading.Thread(target=lazy.encrypt, args=(f"message#{i}", {})) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lazy.decrypt("message#1", "ct:message#1") == {"ct": "ct:message#1"}
    assert len(built) == 1 and lazy.built
    assert len(built[0].calls) == 9


def test_the_container_cipher_checks_its_settings_now_and_loads_the_sdk_later(
    core_env: pytest.MonkeyPatch,
) -> None:
    wiring.reset()
    try:
        with pytest.raises(ValidationError):  # format 3 needs its keystore: no silent format 2
            crypto_wiring.cipher()
        core_env.setenv("PHI_KEYSTORE_TABLE", "clinictext-phi-keystore")
        core_env.setenv("PHI_BRANCH_KEY_ID", "clinictext-phi")
        wiring.reset()
        cipher = crypto_wiring.cipher()
        assert isinstance(cipher, LazyCipher) and not cipher.built
        core_env.setenv("PHI_CACHE_CAPACITY", "0")  # below its bound
        wiring.reset()
        with pytest.raises(ValidationError):
            crypto_wiring.cipher()
    finally:
        wiring.reset()
