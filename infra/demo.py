"""The scripted demo behind ``make demo``: a patient's first texts, the clinic's forms, the audit trail,
then appointments in and reminders out (FHIR ingest, scheduled runs, replies, an opt-out honoured).

Everything runs through the real functions, wired as Lambda would wire them, on an embedded AWS built
from template.yaml. Numbers are synthetic and still shown masked, the way a staff screen would.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from infra.client import mask
from infra.client import request as call_api
from infra.local.sandbox import SANDBOX_TWILIO_TOKEN, Sandbox
from infra.terminal import printable

PATIENT = "+12065550123"
SECOND_PATIENT = "+12065550124"
CLINIC = "+12065550100"


class Story:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._seen = 0
        self.step = 0
        self.checks: list[tuple[str, bool]] = []

    def heading(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}")

    def say(self, text: str) -> None:
        print(f"   {text}")

    def patient_texts(self, number: str, body: str) -> None:
        print(f"   patient {mask(number)} -> clinic: {printable(body)}")
        self.sandbox.text(number, body)
        self.show_new_texts()

    def show_new_texts(self) -> list[dict[str, str]]:
        outbox = self.sandbox.outbox()
        new = outbox[self._seen :]
        self._seen = len(outbox)
        for sms in new:
            print(f"   clinic -> {mask(sms['to'])}: {printable(sms['text'])}")
        if not new:
            print("   (no text sent)")
        return new

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))
        print(f"   [{'ok' if ok else 'FAILED'}] {label}")


def consent_rows(sandbox: Sandbox, number: str) -> list[dict[str, Any]]:
    """The consent ledger of one number, read as staff tooling would (by blind index)."""
    from infra.local.stack import function_environment
    from shared.crypto import wiring

    function = sandbox.stack.functions["InboundSmsFunction"]
    with function_environment(function.environment):
        phone_hmac = wiring.blind_index().phone(number)
    table = sandbox.stack.table("ConsentTable")
    items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": phone_hmac})[
        "Items"
    ]
    return sorted(items, key=lambda item: item["sk"])


def show_ledger(story: Story, number: str) -> dict[str, Any]:
    rows = consent_rows(story.sandbox, number)
    state = next((row for row in rows if row["sk"] == "STATE"), {})
    story.say(f"consent ledger for {mask(number)}: current state = {state.get('status', 'none')}")
    for row in rows:
        if row["sk"].startswith("EVENT#"):
            extra = f" {row['keyword']}" if row.get("keyword") else ""
            sync = f", AWS opt-out list: {row['carrier_sync']}" if row.get("carrier_sync") else ""
            story.say(
                f"  {row['at'][:19]}Z  {row['action']:<8} via {row['channel']} ({row['source']}{extra}{sync})"
            )
    return state


def twilio_post(story: Story, number: str, body: str, *, forged: bool = False) -> tuple[int, str]:
    from twilio.request_validator import RequestValidator

    url = f"{story.sandbox.api_url}/webhooks/twilio"
    params = {
        "MessageSid": f"SM{abs(hash((number, body, forged))):032x}"[:34],
        "From": number,
        "To": CLINIC,
        "Body": body,
        "AccountSid": "AC" + "0" * 32,
        "NumMedia": "0",
    }
    token = "not-the-token" if forged else SANDBOX_TWILIO_TOKEN
    signature = RequestValidator(token).compute_signature(url, params)
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - local sandbox URL
        url,
        data=urlencode(params).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # local sandbox  # nosec B310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scan_for_plaintext(sandbox: Sandbox, secrets: list[str]) -> list[str]:
    leaks = []
    for logical in sandbox.stack.table_logical_ids():
        for item in sandbox.stack.table(logical).scan()["Items"]:
            # repr, not str: a Binary attribute (the PHI keystore's wrapped keys) has a bytes __str__.
            text = json.dumps(item, default=repr)
            leaks += [f"{logical}: {secret[:6]}…" for secret in secrets if secret in text]
    return leaks


def core_story(story: Story) -> None:
    sandbox = story.sandbox
    story.heading("A patient texts HELP (answered whether or not they are subscribed)")
    story.patient_texts(PATIENT, "HELP")

    story.heading("The patient texts STOP: one confirmation, and the ledger records the opt-out")
    story.patient_texts(PATIENT, "Stop")
    state = show_ledger(story, PATIENT)
    story.check("ledger shows the number opted out", state.get("status") == "opted_out")

    story.heading("A second STOP is recorded but not answered again")
    before = len(sandbox.outbox())
    story.patient_texts(PATIENT, "STOP")
    story.check("no second confirmation", len(sandbox.outbox()) == before)

    story.heading("The patient texts START: opted back in, with the CTIA confirmation")
    story.patient_texts(PATIENT, "START")
    state = show_ledger(story, PATIENT)
    story.check("ledger shows the number opted in", state.get("status") == "opted_in")

    story.heading("A free-text message goes to the staff thread, encrypted, with no automatic reply")
    story.patient_texts(PATIENT, "Hi, it's Dana Whitfield - is parking free on Saturdays?")

    story.heading("Twilio-compatible webhook: a signed STOP is answered in TwiML; a forged one gets 403")
    story.say(f"patient {mask(SECOND_PATIENT)} -> clinic (Twilio): STOP")
    status, body = twilio_post(story, SECOND_PATIENT, "STOP")
    story.say(f"webhook answered {status}: {body}")
    story.check("signed webhook answered with TwiML", status == 200 and "<Message>" in body)
    status, body = twilio_post(story, SECOND_PATIENT, "START", forged=True)
    story.say(f"forged request answered {status}: {body}")
    story.check("forged signature refused with 403", status == 403)
    story.check(
        "forged request changed nothing", show_ledger(story, SECOND_PATIENT).get("status") == "opted_out"
    )

    story.heading("The clinic's intake form records an opt-in through the consent API (IAM-authorized)")
    status, body = call_api(
        "POST",
        f"{sandbox.api_url}/consent",
        {
            "phone": "(206) 555-0125",
            "source": "intake_form",
            "consented_at": "2026-11-23T09:30:00-08:00",
            "reference": "intake-4711",
        },
        sign=True,
    )
    story.say(f"POST /consent -> {status} {body}")
    story.show_new_texts()
    story.check("intake opt-in recorded", status == 201)
    status, body = call_api("POST", f"{sandbox.api_url}/consent", {"phone": "+12065550125"})
    story.say(f"the same route without IAM credentials -> {status} {body}")
    story.check("unsigned request refused", status == 403)

    story.heading("Audit: every item in every table, scanned for plaintext PHI")
    leaks = scan_for_plaintext(
        sandbox, [PATIENT, SECOND_PATIENT, "+12065550125", "2065550123", "Dana Whitfield", "parking free"]
    )
    counts = {
        logical: len(sandbox.stack.table(logical).scan()["Items"])
        for logical in sandbox.stack.table_logical_ids()
    }
    story.say("items per table: " + ", ".join(f"{k.removesuffix('Table')} {v}" for k, v in counts.items()))
    story.check("no phone number, name or message text in plaintext", not leaks)


# ------------------------------------------------------------------------------------ reminder story
DEMO_TZ = ZoneInfo("America/Los_Angeles")
EHR = "https://ehr.example.org/fhir"
# Synthetic patients: (patient id, given, family, mobile, appointment id, local start time).
REMINDER_PATIENTS = [
    ("pat-2131", "Ana", "Petrova", "+12065550131", "appt-7131", time(9, 0)),
    ("pat-2132", "Ben", "Okonkwo", "+12065550132", "appt-7132", time(10, 30)),
    ("pat-2133", "Cora", "Lindqvist", "+12065550133", "appt-7133", time(14, 15)),
    ("pat-2134", "Dev", "Raman", "+12065550134", "appt-7134", time(15, 40)),
]
# In the Bundle, and never allowed into a text or a table in clear.
CLINICAL_TEXT = [
    "chemotherapy follow-up",
    "Oncology",
    "Medical oncology",
    "Chemotherapy infusion",
    "port flush",
    "bring your medication list",
]


def demo_day() -> date:
    """The appointments' day: three days out. The book plans reminders and the sender checks "not passed"
    against the wall clock (SystemClock), so the story's dates follow today; the times of day are fixed."""
    return (datetime.now(DEMO_TZ) + timedelta(days=3)).date()


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=DEMO_TZ)


def when(at: datetime) -> str:
    from shared.appointments.wording import render_when

    return render_when(at, "America/Los_Angeles")


def reminder_bundle(
    day: date, patients: list[tuple[str, str, str, str, str, time]] | None = None
) -> dict[str, Any]:
    """A FHIR R4 batch Bundle as an EHR exports it: patients, a Location with its time zone, appointments
    full of clinical detail that ClinicText must drop. Dev's appointment has no UTC offset: refused alone."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{EHR}/Location/loc-harbor",
            "resource": {
                "resourceType": "Location",
                "id": "loc-harbor",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/timezone",
                        "valueCode": "America/Los_Angeles",
                    }
                ],
                "name": "Harbor Clinic",
                "description": "Chemotherapy infusion, 3rd floor",
                "address": {"line": ["1200 Harbor Ave SW"], "city": "Seattle", "state": "WA"},
            },
        }
    ]
    for patient_id, given, family, mobile, appointment_id, at in patients or REMINDER_PATIENTS:
        entries.append(
            {
                "fullUrl": f"{EHR}/Patient/{patient_id}",
                "resource": {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "name": [{"use": "official", "family": family, "given": [given]}],
                    "telecom": [{"system": "phone", "value": mobile, "use": "mobile", "rank": 1}],
                    "birthDate": "1970-01-01",
                },
            }
        )
        start = local(day, at)
        entries.append(
            {
                "fullUrl": f"{EHR}/Appointment/{appointment_id}",
                "resource": {
                    "resourceType": "Appointment",
                    "id": appointment_id,
                    "status": "booked",
                    "serviceType": [{"text": "Chemotherapy infusion"}],
                    "specialty": [
                        {
                            "coding": [
                                {
                                    "system": "http://snomed.info/sct",
                                    "code": "394593009",
                                    "display": "Medical oncology",
                                }
                            ],
                            "text": "Oncology",
                        }
                    ],
                    "reasonCode": [{"text": "chemotherapy follow-up"}],
                    "description": "Cycle 2 review and port flush",
                    # Dev's start has no offset: the entry is refused with an OperationOutcome, alone.
                    "start": start.replace(tzinfo=None).isoformat() if given == "Dev" else start.isoformat(),
                    "end": (start + timedelta(minutes=45)).isoformat(),
                    "comment": "Nervous about port flush",
                    "patientInstruction": "Eat beforehand and bring your medication list",
                    "participant": [
                        {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                        {"actor": {"reference": "Location/loc-harbor"}, "status": "accepted"},
                    ],
                },
            }
        )
    for entry in entries:
        resource = entry["resource"]
        entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    return {"resourceType": "Bundle", "id": "demo-export", "type": "batch", "entry": entries}


def post_bundle(story: Story, bundle: dict[str, Any]) -> dict[str, Any]:
    status, body = call_api("POST", f"{story.sandbox.api_url}/appointments", bundle, sign=True)
    answer: dict[str, Any] = json.loads(body)
    story.say(
        f"POST /appointments (SigV4-signed) -> {status} {answer.get('type', answer.get('resourceType'))}"
    )
    for request_entry, entry in zip(bundle["entry"], answer.get("entry", []), strict=False):
        response = entry.get("response", {})
        issues = (response.get("outcome") or {}).get("issue", [])
        why = f"  ({issues[0].get('diagnostics')})" if issues else ""
        story.say(f"  {request_entry['request']['url']:<22} {response.get('status')}{why}")
    return answer


def offset_label(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}-day"
    return f"{minutes // 60}-hour" if minutes % 60 == 0 else f"{minutes}-minute"


def get_appointment(story: Story, appointment_id: str) -> dict[str, Any]:
    status, body = call_api("GET", f"{story.sandbox.api_url}/appointments/{appointment_id}", sign=True)
    shown: dict[str, Any] = json.loads(body) if status == 200 else {}
    reminders = ", ".join(
        f"{offset_label(r['offset_minutes'])} {r['status']}" for r in shown.get("reminders", [])
    )
    reply = (shown.get("reply") or {}).get("status") or "none"
    participant = (shown.get("appointmentResponse") or {}).get("participantStatus")
    story.say(
        f"GET /appointments/{appointment_id} -> {status}: reply {reply}, "
        f"AppointmentResponse.participantStatus {participant}; reminders: {reminders}"
    )
    return shown


def scheduled_run(story: Story, at: datetime) -> dict[str, Any]:
    story.say(f"EventBridge Scheduler fires ReminderSchedule for {when(at)} (event time {at.isoformat()})")
    result: dict[str, Any] = story.sandbox.run_schedule(at)
    story.say(
        f"fan-out run: found {result['found']}, queued {result['queued']}, "
        f"already queued or sent {result['already_queued']}"
    )
    return result


def reminder_of(sandbox: Sandbox, appointment_id: str, offset_minutes: int) -> dict[str, Any]:
    """One reminder's record (ids and statuses only: the contact is ciphertext)."""
    item = sandbox.stack.table("RemindersTable").get_item(
        Key={"pk": f"rem#{appointment_id}#{offset_minutes}"}, ConsistentRead=True
    )
    return dict(item.get("Item") or {})


def parse_due(reminder: dict[str, Any]) -> datetime:
    from shared.core.clock import parse_iso

    return parse_iso(str(reminder.get("due_at") or "1970-01-01T00:00:00Z")).astimezone(DEMO_TZ)


# Eve and Finn Moreau share the family's phone: the caps protect the person holding it.
FAMILY_PHONE = "+12065550135"
FAMILY = [
    ("pat-2135", "Eve", "Moreau", FAMILY_PHONE, "appt-7135", time(9, 30)),
    ("pat-2136", "Finn", "Moreau", FAMILY_PHONE, "appt-7136", time(11, 0)),
]


def family_story(story: Story, day: date) -> None:
    sandbox = story.sandbox
    story.heading("A family phone: at most one automated text a day (FrequencyCapPerDay=1, PerWeek=3)")
    story.say(
        f"Eve and Finn Moreau share one phone; both have appointments on {when(local(day, time(9, 30)))}"
    )
    post_bundle(story, reminder_bundle(day, FAMILY))
    two_days = local(day - timedelta(days=2), time(16, 0))
    scheduled_run(story, two_days)
    sent = story.show_new_texts()
    held = [
        r
        for r in (reminder_of(sandbox, "appt-7135", 2880), reminder_of(sandbox, "appt-7136", 2880))
        if r.get("deferred_reason") == "frequency_cap"
    ]
    for reminder in held:
        story.say(f"held back by the frequency cap: {reminder['pk']} due again {when(parse_due(reminder))}")
    story.check(
        "two reminders due for one phone: one text now, the other held back by the daily cap",
        len(sent) == 1
        and len(held) == 1
        and abs(parse_due(held[0]) - (two_days + timedelta(days=1))) < timedelta(minutes=1),
    )
    next_day = two_days + timedelta(days=1, minutes=5)
    scheduled_run(story, next_day)
    later = story.show_new_texts()
    held_status = [reminder_of(sandbox, r["pk"].split("#")[1], 2880).get("status") for r in held]
    story.check(
        "the held reminder goes out the next day, once the day is up",
        len(later) == 1 and held_status == ["sent"],
    )


def texts_to(sandbox: Sandbox, number: str) -> list[str]:
    return [sms["text"] for sms in sandbox.outbox() if sms["to"] == number]


def reminder_story(story: Story) -> None:
    from shared.core.segments import analyze

    sandbox = story.sandbox
    day = demo_day()
    (
        (ana_number, ana_appt, ana_at),
        (ben_number, ben_appt, _),
        (cora_number, cora_appt, _),
        (dev_number, *_),
    ) = ((p[3], p[4], p[5]) for p in REMINDER_PATIENTS)

    story.heading("The EHR sends its appointment export: a FHIR R4 batch Bundle, IAM-signed")
    story.say(
        f"4 synthetic patients, oncology appointments on {when(local(day, ana_at)).split(' at ')[0]} "
        "(reason, specialty, comment and instructions filled in)"
    )
    bundle = reminder_bundle(day)
    answer = post_bundle(story, bundle)
    codes = [entry["response"]["status"] for entry in answer.get("entry", [])]
    appointment_codes = codes[2::2]
    story.check(
        "3 appointments created, Dev's (start without a UTC offset) refused on its own",
        appointment_codes[:3] == ["201 Created"] * 3 and not appointment_codes[3].startswith("2"),
    )
    reminders_before = len(sandbox.stack.table("RemindersTable").scan()["Items"])
    story.say("the same export again (EHRs resend): nothing changes, nothing is scheduled twice")
    again = post_bundle(story, bundle)
    story.check(
        "resent bundle: 200 OK, reminder count unchanged",
        [e["response"]["status"] for e in again.get("entry", [])][2::2][:3] == ["200 OK"] * 3
        and len(sandbox.stack.table("RemindersTable").scan()["Items"]) == reminders_before,
    )

    story.heading("Two days before: the scheduled run sends the due reminders")
    first_at = local(day - timedelta(days=2), time(16, 0))
    first = scheduled_run(story, first_at)
    sent = story.show_new_texts()
    story.check("3 two-day reminders sent, one per patient", first["queued"] == 3 and len(sent) == 3)
    story.check(
        "each reminder is one GSM-7 segment and says how to answer",
        len(sent) == 3
        and all(
            analyze(s["text"]).segments == 1 and "Reply C to confirm or R to reschedule" in s["text"]
            for s in sent
        ),
    )

    story.say("the scheduler retries the same run (same event time): nothing is sent twice")
    before = len(sandbox.outbox())
    replay = scheduled_run(story, first_at)
    story.show_new_texts()
    story.check("replayed run sends nothing new", replay["queued"] == 0 and len(sandbox.outbox()) == before)

    story.heading("The patients answer")
    story.patient_texts(ana_number, "C")
    story.patient_texts(ben_number, "can I move it to next week?")
    story.patient_texts(cora_number, "STOP")
    shown_ana = get_appointment(story, ana_appt)
    shown_ben = get_appointment(story, ben_appt)
    story.check(
        "Ana's appointment confirmed (AppointmentResponse accepted)",
        (shown_ana.get("reply") or {}).get("status") == "confirmed"
        and shown_ana.get("appointmentResponse", {}).get("participantStatus") == "accepted",
    )
    story.check(
        "Ben's reschedule request flagged (AppointmentResponse tentative)",
        (shown_ben.get("reply") or {}).get("status") == "reschedule_requested"
        and shown_ben.get("appointmentResponse", {}).get("participantStatus") == "tentative",
    )
    cora_texts_after_stop = len(texts_to(sandbox, cora_number))

    story.heading(
        "Appointment day: quiet hours hold the early reminder; the patient who opted out gets nothing"
    )
    early_at = local(day, time(7, 0))  # Ana's 9:00 AM appointment: its 2-hour reminder falls due at 7:00 AM
    early = scheduled_run(story, early_at)
    sent_early = story.show_new_texts()
    held = reminder_of(sandbox, ana_appt, 120)
    story.say(
        f"Ana's 2-hour reminder: {held.get('status')} (deferred: {held.get('deferred_reason')}, "
        f"due again {when(parse_due(held))})"
    )
    story.check(
        "quiet hours: nothing sent at 7:00 AM; Ana's reminder deferred to 8:00 AM, not dropped",
        early["queued"] >= 1
        and not sent_early
        and held.get("deferred_reason") == "quiet_hours"
        and parse_due(held) == local(day, time(8, 0)),
    )
    sent = []
    runs = [early]
    for at in (local(day, time(8, 0)), local(day, time(8, 30)), local(day, time(12, 15))):
        runs.append(scheduled_run(story, at))
        sent += story.show_new_texts()
    shown_cora = get_appointment(story, cora_appt)
    story.check(
        "two-hour reminders to Ana (at 8:00 AM) and Ben (at 8:30 AM) only",
        sorted(s["to"] for s in sent) == sorted([ana_number, ben_number]),
    )
    story.check(
        "Cora got nothing after STOP; her reminder is skipped_opted_out",
        len(texts_to(sandbox, cora_number)) == cora_texts_after_stop
        and any(r["status"] == "skipped_opted_out" for r in shown_cora.get("reminders", [])),
    )
    before = len(sandbox.outbox())
    story.say("a replay of the runs, as a retried schedule would send them:")
    replays = [scheduled_run(story, first_at), scheduled_run(story, local(day, time(12, 15)))]
    story.check(
        "replayed runs send nothing new",
        len(sandbox.outbox()) == before and all(r["queued"] == 0 for r in replays),
    )

    family_story(story, day + timedelta(days=7))

    story.heading("Audit: no clinical detail in any text; no name, number or reason in any table")
    outbox_text = " ".join(sms["text"] for sms in sandbox.outbox()).lower()
    story.check(
        "no reason, specialty, service, comment or instruction words in any text sent",
        not [
            word
            for word in [*CLINICAL_TEXT, "chemo", "oncolog", "infusion", "medication"]
            if word.lower() in outbox_text
        ],
    )
    story.check("Dev (refused entry) was never texted", not texts_to(sandbox, dev_number))
    secrets = [*CLINICAL_TEXT, "Nervous about", "Cycle 2 review"]
    for _pid, given, family, mobile, _appt, _at in [*REMINDER_PATIENTS, *FAMILY]:
        secrets += [f"{given} {family}", family, mobile, mobile[2:]]
    leaks = scan_for_plaintext(sandbox, secrets)
    story.check("no patient name, number or clinical text in plaintext in DynamoDB", not leaks)


# A draft a staff member might paste from a word processor: curly quotes, an en dash, an ellipsis, an emoji.
DRAFT_TEXT = (
    "{clinic_name}: Hi {first_name}, it\u2019s time for your flu shot \u2013 "
    "walk-ins 9\u20135\u2026 \U0001f489 Reply STOP to opt out."
)


def cost_story(story: Story) -> None:
    from infra.template_check import check_template
    from shared.core.segments import analyze, normalize_for_gsm

    story.heading("What a text costs: the segment report (clinictext template check)")
    story.say(f"draft: {DRAFT_TEXT}")
    check_template(DRAFT_TEXT, clinic_name="Riverside Family Clinic")
    raw, normalized = analyze(DRAFT_TEXT), analyze(normalize_for_gsm(DRAFT_TEXT))
    story.check(
        "the draft is UCS-2; the report names what forced it (quote, dash, ellipsis, emoji)",
        raw.encoding == "UCS-2" and {"\u2019", "\u2013", "\u2026", "\U0001f489"} <= set(raw.ucs2_culprits),
    )
    story.check(
        "typographic punctuation is normalized to GSM-7; the emoji cannot be, and is still reported",
        normalized.encoding == "UCS-2" and list(normalized.ucs2_culprits) == ["\U0001f489"],
    )
    without_emoji = analyze(normalize_for_gsm(DRAFT_TEXT.replace(" \U0001f489", "")))
    story.check(
        "without the emoji the normalized text is one GSM-7 segment",
        without_emoji.encoding == "GSM-7" and without_emoji.segments == 1,
    )


# The clinic's own reminder wording, pasted from a word processor (a curly apostrophe).
CLINIC_TEMPLATE = (
    "{clinic_name}: Hi {first_name}, you\u2019re booked {when}[ at {location}]. "
    "Reply C to confirm, R to reschedule, STOP to opt out."
)
# Gia's carrier delivers, Hana's phone is off, Ivo opted out at his carrier (texted STOP to the short
# code in another app, say): the sandbox plays the carrier and writes SNS's delivery-status log lines.
DELIVERY_PATIENTS = [
    ("pat-2137", "Gia", "Russo", "+12065550137", "appt-7137", time(11, 0)),
    ("pat-2138", "Hana", "Sato", "+12065550138", "appt-7138", time(11, 30)),
    ("pat-2139", "Ivo", "Novak", "+12065550139", "appt-7139", time(12, 0)),
]


def save_template(story: Story, body: str) -> tuple[int, dict[str, Any]]:
    status, answer = call_api("PUT", f"{story.sandbox.api_url}/templates/reminder", {"body": body}, sign=True)
    return status, json.loads(answer) if answer else {}


def messages_of(story: Story, number: str) -> list[dict[str, Any]]:
    status, body = call_api("POST", f"{story.sandbox.api_url}/messages/lookup", {"phone": number}, sign=True)
    return list(json.loads(body).get("messages", [])) if status == 200 else []


def template_story(story: Story) -> None:
    story.heading("The clinic stores its own reminder wording (PUT /templates/reminder, versioned)")
    bad = "{clinic_name}: Hi {first_name}, your {reason} visit is {when}. Reply STOP to opt out."
    status, answer = save_template(story, bad)
    story.say(f"a draft with {{reason}} -> {status}: {(answer.get('error') or {}).get('message')}")
    story.check(
        "a template with a non-allowlisted placeholder is refused, naming it",
        status == 400 and "{reason}" in (answer.get("error") or {}).get("message", ""),
    )
    story.say(f"the wording the clinic wants: {CLINIC_TEMPLATE}")
    status, answer = save_template(story, CLINIC_TEMPLATE)
    stored = answer.get("template") or {}
    report = answer.get("report") or {}
    story.say(
        f"PUT /templates/reminder -> {status}: version {stored.get('version')}, "
        f"{stored.get('encoding')}, {stored.get('segments')} segment(s) with long sample values"
    )
    story.say(
        f"  as written forced to UCS-2 by {report.get('as_written', {}).get('ucs2_culprits')}; stored as:"
    )
    story.say(f"  {stored.get('body')}")
    for warning in report.get("warnings", []):
        story.say(f"  flagged: {warning}")
    story.check(
        "saved as version 1, the curly apostrophe normalized to GSM-7",
        status == 201
        and stored.get("version") == 1
        and "you're booked" in str(stored.get("body"))
        and stored.get("encoding") == "GSM-7",
    )
    story.check(
        "flagged on save: a long name and address need 2 segments; without the optional place, 1",
        stored.get("multi_segment") is True
        and any("optional parts it takes 1" in w for w in report.get("warnings", [])),
    )


def delivery_story(story: Story) -> None:
    sandbox = story.sandbox
    day = demo_day() + timedelta(days=10)
    gia, hana, ivo = (p[3] for p in DELIVERY_PATIENTS)
    sandbox.carrier_outcomes.update({hana: "unreachable", ivo: "opted_out"})

    story.heading("Delivery status comes back: SNS delivery logs -> subscription filter -> message records")
    story.say(f"Gia, Hana and Ivo have appointments on {when(local(day, time(11, 0))).split(' at ')[0]}")
    post_bundle(story, reminder_bundle(day, DELIVERY_PATIENTS))
    scheduled_run(story, local(day - timedelta(days=2), time(16, 0)))
    sent = story.show_new_texts()
    story.check(
        "the reminders use the stored template (reminder@v1)",
        len(sent) == 3
        and all(
            s["text"].startswith("Riverside Family Clinic: Hi ") and "you're booked" in s["text"]
            for s in sent
        )
        and all(
            (messages_of(story, n) or [{}])[0].get("template") == "reminder@v1" for n in (gia, hana, ivo)
        ),
    )
    latest = {}
    for number in (gia, hana, ivo):
        record = (messages_of(story, number) or [{}])[0]
        latest[number] = record
        delivery = record.get("delivery") or {}
        story.say(
            f"POST /messages/lookup {mask(number)}: {record.get('kind')} {record.get('status')}"
            f" - carrier: {delivery.get('detail')}"
        )
    story.check(
        "Gia's text delivered; Hana's failed with the carrier's reason; Ivo's opted out at the carrier",
        latest[gia].get("status") == "delivered"
        and latest[hana].get("status") == "failed"
        and "unreachable" in str((latest[hana].get("delivery") or {}).get("detail"))
        and latest[ivo].get("status") == "opted_out",
    )
    state = show_ledger(story, ivo)
    story.check(
        "the carrier's opt-out is on the consent ledger (source carrier)",
        state.get("status") == "opted_out" and state.get("last_source") == "carrier",
    )
    story.say("appointment day, the two-hour reminders:")
    scheduled_run(story, local(day, time(10, 5)))
    later = story.show_new_texts()
    story.check(
        "Gia and Hana get their two-hour reminder; Ivo, opted out at his carrier, gets nothing",
        sorted(s["to"] for s in later) == sorted([gia, hana]),
    )
    secrets = [value for p in DELIVERY_PATIENTS for value in (p[3], p[3][2:], f"{p[1]} {p[2]}", p[2])]
    leaks = scan_for_plaintext(sandbox, [*secrets, "unreachable/unavailable +1"])
    story.check("delivery statuses stored without any number or name in clear", not leaks)


STAFF_PATIENT = "+12065550131"
ALL_DAY = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def staff_api(story: Story, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, text = call_api(
        method, f"{story.sandbox.api_url}{path}", body, extra_headers={"Authorization": f"Bearer {token}"}
    )
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def staff_token(story: Story, username: str, groups: tuple[str, ...]) -> str:
    import secrets

    password = "Demo-" + secrets.token_urlsafe(12) + "9!a"
    story.sandbox.add_staff(username, groups, password=password)
    return str(story.sandbox.staff_tokens(username, password)["AccessToken"])


def staff_story(story: Story) -> None:
    """The staff inbox: nursing answers with a canned response, billing cannot open it, urgent and
    after-hours texts, and the audit trail shows each look."""
    sandbox = story.sandbox
    story.heading("Staff sign in: an admin, a nurse and a billing clerk (Cognito groups are departments)")
    admin = staff_token(story, "demo.admin", ("admin",))
    nurse = staff_token(story, "demo.nurse", ("nursing",))
    billing = staff_token(story, "demo.billing", ("billing",))
    zone = "America/Los_Angeles"
    nursing = {"time_zone": zone, "hours": ALL_DAY, "keywords": ["incision", "refill"]}
    closed = {"time_zone": zone, "hours": {}, "keywords": ["bill", "invoice"]}
    ok = staff_api(story, admin, "PUT", "/inbox/departments/nursing", nursing)[0] == 200
    ok = ok and staff_api(story, admin, "PUT", "/inbox/departments/billing", closed)[0] == 200
    story.check("admin set nursing's hours and routing words, and billing's (closed today)", ok)
    status, created = staff_api(
        story,
        admin,
        "POST",
        "/inbox/canned-responses",
        {
            "department": "nursing",
            "name": "redness",
            "body": "Hi {first_name}, some redness is normal. "
            "If it spreads or you have a fever, call {clinic_name}.",
        },
    )
    story.check("admin created a canned response for nursing", status == 201)

    story.heading("A patient question lands in nursing; a nurse answers with the canned response")
    story.patient_texts(STAFF_PATIENT, "START")
    story.patient_texts(STAFF_PATIENT, "My incision is a bit red, is that normal?")
    _status, listed = staff_api(story, nurse, "GET", "/inbox/conversations?department=nursing&unread=true")
    items = listed.get("conversations", []) if isinstance(listed, dict) else []
    story.check("the nurse sees one unread conversation in nursing", len(items) == 1)
    cid = items[0]["id"] if items else "c_AAAAAAAAAAAAAAAAAAAAAA"
    _status, shown = staff_api(story, nurse, "GET", f"/inbox/conversations/{cid}")
    version = shown.get("conversation", {}).get("version", 1) if isinstance(shown, dict) else 1
    status, replied = staff_api(
        story,
        nurse,
        "POST",
        f"/inbox/conversations/{cid}/messages",
        {"version": version, "canned_response_id": created["canned_response"]["id"]},
    )
    story.show_new_texts()
    segments = replied.get("sent", {}).get("segments") if isinstance(replied, dict) else None
    story.say(f"reply answered {status}: {segments} segment(s)")
    story.check("the canned reply went out through the outbound pipeline", status == 201)

    story.heading("Billing cannot open nursing's conversation: the same 404 as one that does not exist")
    hidden = staff_api(story, billing, "GET", f"/inbox/conversations/{cid}")
    missing = staff_api(story, billing, "GET", "/inbox/conversations/c_AAAAAAAAAAAAAAAAAAAAAA")
    story.say(f"billing got {hidden[0]} for nursing's thread and {missing[0]} for a missing one")
    story.check(
        "billing's 404 is identical to a missing conversation's", hidden == missing and hidden[0] == 404
    )

    story.heading("An urgent text gets the 911 reply at once and pages on-call (no PHI in the page)")
    pages = len(sandbox.on_call_pages())
    story.patient_texts(STAFF_PATIENT, "my incision is bleeding a lot and I feel faint")
    story.check("on-call was paged", len(sandbox.on_call_pages()) > pages)

    story.heading("Billing is closed: a bill question gets one after-hours reply, a second text none")
    before = len(sandbox.outbox())
    story.patient_texts(STAFF_PATIENT, "Question about my bill from March")
    first = len(sandbox.outbox()) - before
    story.patient_texts(STAFF_PATIENT, "Also, is the invoice due this week?")
    story.check("exactly one after-hours reply", first == 1 and len(sandbox.outbox()) - before == 1)

    story.heading("The audit trail shows each look and write (admins only)")
    status, trail = staff_api(story, admin, "GET", f"/inbox/audit?conversation_id={cid}")
    records = trail.get("records", []) if isinstance(trail, dict) else []
    for record in records:
        story.say(f"{record['at']}  {printable(record['username'])}  {record['action']}")
    actions = {record["action"] for record in records}
    story.check("the nurse's read and reply are on the record", {"read", "reply"} <= actions)
    story.check(
        "a nurse may not read the trail",
        staff_api(story, nurse, "GET", f"/inbox/audit?conversation_id={cid}")[0] == 403,
    )


SECURE_PATIENT = "+12065550132"
SECURE_BODY = "Your lab results are back and all values are in the normal range. No action is needed."


def secure_bundle() -> dict[str, Any]:
    """A synthetic patient with a date of birth on file and one appointment (a secure message checks it)."""
    start = datetime.now(ZoneInfo("UTC")) + timedelta(days=10)
    entries = [
        {
            "resource": {
                "resourceType": "Patient",
                "id": "pat-demo-secure",
                "name": [{"use": "usual", "given": ["Robin"]}],
                "telecom": [{"system": "sms", "value": SECURE_PATIENT, "rank": 1}],
                "birthDate": "1975-06-30",
            }
        },
        {
            "resource": {
                "resourceType": "Appointment",
                "id": "appt-demo-secure",
                # pending: stored (with the date of birth) but never reminded, so the reminder story's
                # counts are its own
                "status": "pending",
                "start": start.isoformat(),
                "participant": [{"actor": {"reference": "Patient/pat-demo-secure"}, "status": "accepted"}],
            }
        },
    ]
    for entry in entries:
        resource = entry["resource"]
        entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    return {"resourceType": "Bundle", "id": "demo-secure", "type": "batch", "entry": entries}


def patient_page(story: Story, path: str, form: dict[str, str]) -> tuple[int, str]:
    """What the patient's browser posts on the secure-message page (a form, as the page sends it)."""
    return call_api(
        "POST",
        f"{story.sandbox.api_url}{path}",
        urlencode(form).encode(),
        extra_headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def secure_story(story: Story) -> None:
    """A nurse sends a secure message; the patient opens the link, fails the date of birth, passes it,
    reads the message and answers; the answer lands in the thread."""
    import re

    story.heading("A secure message: the text carries only a link; the page asks for the date of birth")
    post_bundle(story, secure_bundle())
    nurse = staff_token(story, "demo.secure.nurse", ("nursing",))
    story.patient_texts(SECURE_PATIENT, "START")
    story.patient_texts(SECURE_PATIENT, "Hi, about my refill: are my lab results back?")
    _status, listed = staff_api(story, nurse, "GET", "/inbox/conversations?department=nursing&unread=true")
    items = listed.get("conversations", []) if isinstance(listed, dict) else []
    cid = items[0]["id"] if items else "c_AAAAAAAAAAAAAAAAAAAAAA"
    _status, shown = staff_api(story, nurse, "GET", f"/inbox/conversations/{cid}")
    version = shown.get("conversation", {}).get("version", 1) if isinstance(shown, dict) else 1
    status, _sent = staff_api(
        story,
        nurse,
        "POST",
        f"/inbox/conversations/{cid}/secure-messages",
        {"version": version, "body": SECURE_BODY},
    )
    story.check("the nurse sent a secure message (201)", status == 201)
    texts = story.show_new_texts()
    link = next((t["text"] for t in texts if "secure message" in t["text"]), "")
    found = re.search(r"(https?://\S+/s)#([A-Za-z0-9_-]{43})$", link)
    story.check(
        "the text carries the clinic and a link, not the message", bool(found) and SECURE_BODY not in link
    )
    token = found.group(2) if found else ""
    story.say("the patient opens the link; a wrong date of birth first, then the right one")
    status, page = patient_page(story, "/s", {"token": token, "month": "06", "day": "30", "year": "1976"})
    story.check(
        "a wrong date of birth: does not match, 4 attempts left", status == 401 and "4 attempts left" in page
    )
    status, page = patient_page(story, "/s", {"token": token, "month": "06", "day": "30", "year": "1975"})
    story.check("the right one shows the message", status == 200 and "normal range" in page)
    session = re.search(r'name="session" value="([^"]+)"', page)
    status, page = patient_page(
        story,
        "/s/answer",
        {"session": session.group(1) if session else "", "answer": "Thank you, that is a relief."},
    )
    story.check("the patient's answer was sent", status == 200 and "Your answer was sent" in page)
    _status, shown = staff_api(story, nurse, "GET", f"/inbox/conversations/{cid}")
    secure = (
        (shown.get("conversation", {}).get("secure_messages") or [{}])[0] if isinstance(shown, dict) else {}
    )
    story.say(f"the nurse's thread: opened {secure.get('opened_at')}, {secure.get('answers')} answer(s)")
    story.check(
        "the nurse sees it opened and answered", bool(secure.get("opened_at")) and secure.get("answers") == 1
    )


STORIES: list[Callable[[Story], None]] = [
    core_story,
    staff_story,  # before the reminder story moves the sandbox's clock past the tokens' lifetime
    secure_story,
    reminder_story,
    cost_story,
    template_story,
    delivery_story,
]


def run_demo(log_path: Path, *, inspect: Callable[[Sandbox], None] | None = None) -> int:
    """Play every story; ``inspect`` (the PHI-leak check) sees the sandbox before it is stopped."""
    # Powertools warns when a handler (e.g. a GET) adds no metric; that belongs in the log, not on screen.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    print("ClinicText demo: starting an embedded AWS (moto) and building template.yaml's resources ...")
    with Sandbox(log_path=log_path) as sandbox:
        stack = sandbox.stack
        kinds: dict[str, int] = {}
        for spec in stack.template["Resources"].values():
            kinds[spec["Type"]] = kinds.get(spec["Type"], 0) + 1
        print(f"   embedded AWS at {sandbox.aws_endpoint}, HTTP API at {sandbox.api_url}")
        print(
            f"   from template.yaml: {kinds.get('AWS::DynamoDB::Table', 0)} KMS-encrypted tables, "
            f"{kinds.get('AWS::KMS::Key', 0)} KMS keys, {kinds.get('AWS::SNS::Topic', 0)} topic, "
            f"{kinds.get('AWS::SQS::Queue', 0)} queues, {len(stack.functions)} functions"
        )
        story = Story(sandbox)
        for play in STORIES:
            play(story)
        failed = [label for label, ok in story.checks if not ok]
        if inspect is not None:
            inspect(sandbox)
        print(
            f"\n{len(story.checks) - len(failed)} of {len(story.checks)} checks passed. "
            f"Function logs: {log_path}"
        )
        return 1 if failed else 0
