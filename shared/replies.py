"""The texts ClinicText sends back to keywords. Every one names the clinic (the CTIA program name)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyBook:
    clinic_name: str
    support_contact: str
    clinic_phone: str = ""

    def help(self) -> str:
        return (
            f"{self.clinic_name}: appointment reminders and messages. Help: {self.support_contact}. "
            "Msg&data rates may apply. Reply STOP to opt out."
        )

    def opted_out(self) -> str:
        return (
            f"{self.clinic_name}: You are unsubscribed and will receive no more texts. "
            "Reply START to resubscribe."
        )

    def opted_in(self) -> str:
        return (
            f"{self.clinic_name}: You are subscribed to appointment texts. Up to 3 msgs/week. "
            "Msg&data rates may apply. Reply HELP for help, STOP to opt out."
        )

    def confirmed(self) -> str:
        return f"{self.clinic_name}: Thank you, your appointment is confirmed."

    def reschedule(self) -> str:
        contact = self.clinic_phone or self.support_contact
        return (
            f"{self.clinic_name}: We got your request to reschedule. "
            f"Our staff will contact you, or call {contact}."
        )
