"""The texts ClinicText sends back to keywords and opt-outs. Each names the clinic (the CTIA program name)."""

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

    def opted_out(self, language: str = "en") -> str:
        """The one opt-out confirmation (CTIA, FCC 24-24), in the language the patient wrote in."""
        if language == "es":
            return (
                f"{self.clinic_name}: Se dio de baja y no recibira mas mensajes. "
                "Responda START para volver a suscribirse."
            )
        return (
            f"{self.clinic_name}: You are unsubscribed and will receive no more texts. "
            "Reply START to resubscribe."
        )

    def opt_out_unclear(self, language: str = "en") -> str:
        """The one clarification FCC 24-24 allows when a reply may be a revocation ("stop it").

        Texts are paused from this message on (no answer means revoked), so it asks for nothing but START,
        and it is no question a "yes" could answer: a "yes" would read as a reminder confirmation. No
        marketing, no PHI; GSM-7 only.
        """
        if language == "es":
            return (
                f"{self.clinic_name}: Pausamos nuestros mensajes. Para seguir recibiendo mensajes de sus "
                "citas responda START; si no, no recibira mas."
            )
        return (
            f"{self.clinic_name}: We have paused our texts to you. To keep getting appointment texts, "
            "reply START. Otherwise you will get no more texts."
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
