"""FHIR R4 appointment ingest: a batch/transaction/collection Bundle in, ``AppointmentIntake``s out.

The Bundle and every resource in it are validated with ``fhir.resources`` (its R4B models, which match R4 for
Bundle, Appointment, Patient and Location). Each entry is validated on its own, so one bad entry gets its own
``400 Bad Request`` with an OperationOutcome while the others proceed (batch and collection). A transaction is
all or nothing, as FHIR requires: one refused entry refuses the whole Bundle.

Only what :class:`~shared.ingest.models.AppointmentIntake` has a field for is read from the resources. Error
messages name the offending element (a FHIRPath expression), never its value: values may be PHI.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.ingest.models import (
    APPOINTMENT_STATUSES,
    CANCELLATION_STATUSES,
    AppointmentIntake,
    EntryResult,
    is_iana_time_zone,
    mobile_to_e164,
)

__all__ = [
    "TIMEZONE_EXTENSION_URL",
    "BundleRejected",
    "ParsedBundle",
    "batch_response",
    "operation_outcome",
    "parse_bundle",
]

TIMEZONE_EXTENSION_URL: Final[str] = "http://hl7.org/fhir/StructureDefinition/timezone"
ACCEPTED_BUNDLE_TYPES: Final[frozenset[str]] = frozenset({"batch", "transaction", "collection"})
MAX_ISSUES_PER_OUTCOME: Final[int] = 20

OK: Final[str] = "200 OK"
BAD_REQUEST: Final[str] = "400 Bad Request"

IssueSeverity = Literal["fatal", "error", "warning", "information"]
ResponseType = Literal["batch-response", "transaction-response"]

_BUNDLE_TYPES: Final[frozenset[str]] = frozenset(
    {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history"}
    | {"searchset", "collection"}
)
_UNSUPPORTED_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD", "DELETE", "PATCH"})
# "Patient/123", "https://ehr.example/fhir/Patient/123", ".../Patient/123/_history/4"
_LITERAL_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
_ELEMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# --------------------------------------------------------------------------- OperationOutcome


@dataclass(frozen=True)
class _Issue:
    code: str
    diagnostics: str
    expression: str | None = None
    severity: IssueSeverity = "error"

    def as_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def _outcome(issues: Sequence[_Issue]) -> dict[str, Any]:
    shown = list(issues[:MAX_ISSUES_PER_OUTCOME])
    if len(issues) > MAX_ISSUES_PER_OUTCOME:
        more = len(issues) - MAX_ISSUES_PER_OUTCOME
        shown.append(_Issue("too-costly", f"{more} further issue(s) not listed.", severity="information"))
    return {"resourceType": "OperationOutcome", "issue": [issue.as_fhir() for issue in shown]}


def operation_outcome(
    code: str, diagnostics: str, expression: str | None = None, severity: IssueSeverity = "error"
) -> dict[str, Any]:
    """An OperationOutcome with one issue. ``code`` is a FHIR IssueType (required, invalid, value, ...).

    ``diagnostics`` must name fields, never repeat their values.
    """
    return _outcome([_Issue(code, diagnostics, expression, severity)])


class BundleRejected(Exception):
    """The request as a whole cannot be processed; answer 400 with :attr:`outcome` (an OperationOutcome)."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        issues = outcome.get("issue") or [{}]
        super().__init__(str(issues[0].get("diagnostics", "Bundle rejected")))
        self.outcome = outcome


def _reject(code: str, diagnostics: str, expression: str | None = None) -> BundleRejected:
    return BundleRejected(operation_outcome(code, diagnostics, expression))


# --------------------------------------------------------------------------- results


class ParsedBundle(BaseModel):
    """What a request Bundle held: the appointments to store, and the answers already known.

    ``intakes`` pairs each Appointment with its entry index; storing them is the caller's job, and so is their
    ``EntryResult`` ("201 Created" / "200 OK"). ``rejected`` holds the entries refused with 400, ``accepted``
    the other entries that were valid (Patient and Location: "200 OK").
    """

    model_config = ConfigDict(frozen=True)

    bundle_type: Literal["batch", "transaction", "collection"]
    entry_count: int
    intakes: list[tuple[int, AppointmentIntake]]
    rejected: list[EntryResult]
    accepted: list[EntryResult]

    @property
    def response_type(self) -> ResponseType:
        return "transaction-response" if self.bundle_type == "transaction" else "batch-response"

    def results_with(self, appointment_results: Iterable[EntryResult]) -> list[EntryResult]:
        """Every entry's result in request order, given the results of storing :attr:`intakes`."""
        merged = sorted([*self.rejected, *self.accepted, *appointment_results], key=lambda r: r.index)
        if [r.index for r in merged] != list(range(self.entry_count)):
            raise ValueError("results must cover every Bundle entry exactly once")
        return merged


def batch_response(
    results: Sequence[EntryResult], *, response_type: ResponseType = "batch-response"
) -> dict[str, Any]:
    """A ``batch-response`` (or ``transaction-response``) Bundle: one entry per request entry, in order."""
    ordered = sorted(results, key=lambda r: r.index)
    if [r.index for r in ordered] != list(range(len(ordered))):
        raise ValueError("results must cover entries 0..n-1 exactly once")
    entries: list[dict[str, Any]] = []
    for result in ordered:
        response: dict[str, Any] = {"status": result.status}
        if result.location:
            response["location"] = result.location
        if result.outcome:
            response["outcome"] = result.outcome
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": response_type, "entry": entries}


# --------------------------------------------------------------------------- parsing


@dataclass
class _Entry:
    index: int
    full_url: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    resource: Any = None
    issues: list[_Issue] = field(default_factory=list)  # this entry's own problems

    @property
    def refused(self) -> bool:
        return bool(self.issues)


@dataclass(frozen=True)
class _PatientFacts:
    first_name: str | None
    mobile_e164: str | None


@dataclass(frozen=True)
class _LocationFacts:
    name: str | None
    address: str | None
    time_zone: str | None


def parse_bundle(body: bytes | str | dict[str, Any], *, default_region: str = "US") -> ParsedBundle:
    """Read a FHIR R4 Bundle of Appointments (with their Patients and Locations) into intakes.

    Raises :class:`BundleRejected` when the body is not JSON, not a Bundle, not of type batch, transaction or
    collection, or (transaction only) when any entry is refused. Numbers without a country code are read as
    numbers of ``default_region``.
    """
    try:
        return _parse(_load(body), default_region)
    except RecursionError as exc:
        raise _reject("too-costly", "The Bundle is nested too deeply to process.") from exc


def _load(body: bytes | str | dict[str, Any]) -> Any:
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _reject("structure", "The request body is not UTF-8 encoded JSON.") from exc
    elif isinstance(body, str):
        text = body.removeprefix("\ufeff")
    else:
        raise _reject("structure", "The request body must be a FHIR Bundle in JSON.")

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise _reject(
            "structure", f"The request body is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from exc
    except ValueError as exc:  # NaN / Infinity are not JSON
        raise _reject("structure", "The request body is not valid JSON (NaN or Infinity).") from exc


def _parse(data: Any, default_region: str) -> ParsedBundle:
    if not isinstance(data, dict):
        raise _reject("structure", "The request body must be a FHIR Bundle resource (a JSON object).")
    if data.get("resourceType") != "Bundle":
        raise _reject(
            "invalid", "The request body must be a FHIR Bundle (resourceType Bundle).", "resourceType"
        )
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list):
        raise _reject("structure", "Bundle.entry must be a JSON array.", "Bundle.entry")
    try:
        bundle = Bundle.model_validate({k: v for k, v in data.items() if k != "entry"})
    except ValidationError as exc:
        raise BundleRejected(_outcome(_validation_issues(exc, "Bundle"))) from exc
    if bundle.type not in ACCEPTED_BUNDLE_TYPES:
        shown = f" (got {bundle.type})" if bundle.type in _BUNDLE_TYPES else ""
        raise _reject(
            "not-supported", f"Bundle.type must be batch, transaction or collection{shown}.", "Bundle.type"
        )
    bundle_type = cast(Literal["batch", "transaction", "collection"], bundle.type)

    entries = [_read_entry(i, raw) for i, raw in enumerate(raw_entries)]
    refs = _index_references(entries)

    patients: dict[int, _PatientFacts] = {}
    locations: dict[int, _LocationFacts] = {}
    for entry in entries:
        if entry.refused:
            continue
        if entry.resource_type == "Patient":
            facts_or_issues = _patient_facts(entry.resource, default_region)
            if isinstance(facts_or_issues, list):
                entry.issues.extend(facts_or_issues)
            else:
                patients[entry.index] = facts_or_issues
        elif entry.resource_type == "Location":
            location_or_issues = _location_facts(entry.resource)
            if isinstance(location_or_issues, list):
                entry.issues.extend(location_or_issues)
            else:
                locations[entry.index] = location_or_issues

    intakes: list[tuple[int, AppointmentIntake]] = []
    refusals: dict[int, list[_Issue]] = {}  # what each refused entry's OperationOutcome says
    seen_appointments: dict[str, int] = {}
    for entry in entries:
        if entry.refused or entry.resource_type != "Appointment":
            continue
        intake_or_issues = _appointment_intake(entry, entries, refs, patients, locations)
        if isinstance(intake_or_issues, AppointmentIntake):
            first = seen_appointments.setdefault(intake_or_issues.source_id, entry.index)
            if first == entry.index:
                intakes.append((entry.index, intake_or_issues))
                continue
            entry.issues.append(
                _Issue(
                    "duplicate", f"Appointment.id repeats the one in Bundle entry {first}.", "Appointment.id"
                )
            )
        else:
            own, copied = intake_or_issues
            entry.issues.extend(own)
            refusals[entry.index] = own + copied

    rejected: list[EntryResult] = []
    accepted: list[EntryResult] = []
    for entry in entries:
        if entry.refused:
            issues = refusals.get(entry.index, entry.issues)
            rejected.append(EntryResult(index=entry.index, status=BAD_REQUEST, outcome=_outcome(issues)))
        elif entry.resource_type != "Appointment":
            accepted.append(_accepted_result(entry))

    if bundle_type == "transaction" and rejected:
        raise BundleRejected(_outcome(_transaction_issues(entries)))

    return ParsedBundle(
        bundle_type=bundle_type,
        entry_count=len(entries),
        intakes=intakes,
        rejected=rejected,
        accepted=accepted,
    )


def _read_entry(index: int, raw: Any) -> _Entry:
    entry = _Entry(index)
    root = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        entry.issues.append(_Issue("structure", f"{root} must be a JSON object.", root))
        return entry
    try:
        envelope = BundleEntry.model_validate({k: v for k, v in raw.items() if k != "resource"})
    except ValidationError as exc:
        entry.issues.extend(_validation_issues(exc, root))
        return entry
    entry.full_url = envelope.fullUrl
    if envelope.request is not None and envelope.request.method in _UNSUPPORTED_METHODS:
        entry.issues.append(
            _Issue(
                "not-supported",
                f"{root}.request.method {envelope.request.method} is not supported; send POST or PUT "
                "with the resource.",
                f"{root}.request.method",
            )
        )
        return entry

    resource = raw.get("resource")
    if resource is None:
        entry.issues.append(_Issue("required", f"{root}.resource is required.", f"{root}.resource"))
        return entry
    if not isinstance(resource, dict):
        entry.issues.append(
            _Issue("structure", f"{root}.resource must be a JSON object.", f"{root}.resource")
        )
        return entry
    resource_type = resource.get("resourceType")
    model = _model_class(resource_type)
    if model is None or not isinstance(resource_type, str):
        entry.issues.append(
            _Issue(
                "invalid",
                f"{root}.resource.resourceType is missing or is not a FHIR R4 resource type.",
                f"{root}.resource.resourceType",
            )
        )
        return entry
    entry.resource_type = resource_type
    raw_id = resource.get("id")
    entry.resource_id = raw_id if isinstance(raw_id, str) else None

    if resource_type == "Appointment":
        # fhir.resources would read a JSON number as seconds since 1970; FHIR JSON instants are strings.
        for name in ("start", "end"):
            if name in resource and not isinstance(resource[name], str):
                entry.issues.append(
                    _Issue(
                        "value",
                        f"Appointment.{name} must be a string holding an instant.",
                        f"Appointment.{name}",
                    )
                )
        if entry.issues:
            return entry
    try:
        entry.resource = model.model_validate(resource)
    except ValidationError as exc:
        entry.issues.extend(_validation_issues(exc, resource_type))
    return entry


def _model_class(resource_type: Any) -> Any:
    if not isinstance(resource_type, str) or not _ELEMENT_NAME.fullmatch(resource_type):
        return None
    try:
        return get_fhir_model_class(resource_type)
    except (ValueError, KeyError, TypeError, AttributeError, ImportError):
        return None


def _index_references(entries: list[_Entry]) -> dict[str, int]:
    """Map each entry's fullUrl and "Type/id" to its index. A key seen twice refuses the later entry."""
    refs: dict[str, int] = {}
    for entry in entries:
        keys: list[tuple[str, str]] = []
        if entry.full_url:
            keys.append((entry.full_url, f"Bundle.entry[{entry.index}].fullUrl"))
        if entry.resource_type and entry.resource_id:
            keys.append((f"{entry.resource_type}/{entry.resource_id}", f"{entry.resource_type}.id"))
        for key, expression in keys:
            first = refs.setdefault(key, entry.index)
            if first != entry.index and entry.resource_type != "Appointment" and not entry.refused:
                entry.issues.append(
                    _Issue("duplicate", f"{expression} repeats the one in Bundle entry {first}.", expression)
                )
    return refs


def _patient_facts(patient: Patient, default_region: str) -> _PatientFacts | list[_Issue]:
    """First name of the usual (else official, else unlabelled) name, and the preferred texting number."""
    first_name: str | None = None
    names = patient.name or []
    for wanted in ("usual", "official", None):
        for name in names:
            if name.use == wanted and name.given and name.given[0] and name.given[0].strip():
                first_name = name.given[0].strip()
                break
        if first_name:
            break

    # Texting numbers: system sms, or a mobile phone. Lowest rank wins (no rank = least preferred), then
    # document order. The winner must be valid: we do not silently fall back to a number ranked lower.
    candidates = [
        (telecom.rank if telecom.rank is not None else math.inf, position, telecom)
        for position, telecom in enumerate(patient.telecom or [])
        if telecom.value
        and telecom.use != "old"
        and (telecom.system == "sms" or (telecom.system == "phone" and telecom.use == "mobile"))
    ]
    mobile: str | None = None
    if candidates:
        _, position, telecom = min(candidates, key=lambda c: (c[0], c[1]))
        mobile = mobile_to_e164(telecom.value or "", default_region)
        if mobile is None:
            return [
                _Issue(
                    "value",
                    f"Patient.telecom[{position}] (the preferred SMS-capable number) is not a valid phone "
                    f"number; send it in E.164 form such as +12065550123 (numbers without a country code "
                    f"are read as {default_region} numbers).",
                    f"Patient.telecom[{position}].value",
                )
            ]
    return _PatientFacts(first_name=first_name, mobile_e164=mobile)


def _location_facts(location: Location) -> _LocationFacts | list[_Issue]:
    """Name, a one-line street/city address and the IANA time zone of a Location."""
    name = location.name.strip() if location.name and location.name.strip() else None
    address: str | None = None
    if location.address is not None:
        parts = [line for line in (location.address.line or []) if line]
        if location.address.city:
            parts.append(location.address.city)
        single = ", ".join(" ".join(part.split()) for part in parts if part.strip())
        address = single or None
    time_zone: str | None = None
    for position, extension in enumerate(location.extension or []):
        if extension.url != TIMEZONE_EXTENSION_URL:
            continue
        expression = f"Location.extension[{position}].valueCode"
        if not extension.valueCode or not is_iana_time_zone(extension.valueCode):
            return [
                _Issue(
                    "value",
                    f"{expression} must be an IANA time zone such as America/Los_Angeles.",
                    expression,
                )
            ]
        time_zone = extension.valueCode
        break
    return _LocationFacts(name=name, address=address, time_zone=time_zone)


def _referenced_type(reference: Reference, target: _Entry | None) -> str | None:
    if target is not None:
        return target.resource_type
    if reference.type:
        return reference.type
    match = _LITERAL_REFERENCE.search(reference.reference or "")
    return match.group(1) if match else None


def _normalized_ref(resource_type: str, reference: str, target: _Entry | None) -> str:
    """ "Type/id" when the id is known, else the reference as sent (e.g. a urn:uuid)."""
    if target is not None and target.resource_id:
        return f"{resource_type}/{target.resource_id}"
    match = _LITERAL_REFERENCE.search(reference)
    if match and match.group(1) == resource_type:
        return f"{resource_type}/{match.group(2)}"
    return reference


def _appointment_intake(
    entry: _Entry,
    entries: list[_Entry],
    refs: dict[str, int],
    patients: dict[int, _PatientFacts],
    locations: dict[int, _LocationFacts],
) -> AppointmentIntake | tuple[list[_Issue], list[_Issue]]:
    """Build the intake, or return (this entry's issues, issues copied from the entries it references)."""
    appointment: Appointment = entry.resource
    issues: list[_Issue] = []
    copied: list[_Issue] = []
    status = appointment.status
    cancellation = status in CANCELLATION_STATUSES
    if status not in APPOINTMENT_STATUSES:
        issues.append(
            _Issue(
                "code-invalid",
                "Appointment.status must be one of " + ", ".join(sorted(APPOINTMENT_STATUSES)) + ".",
                "Appointment.status",
            )
        )
    if not appointment.id:
        issues.append(_Issue("required", "Appointment.id is required.", "Appointment.id"))
    if appointment.start is None and not cancellation:
        issues.append(
            _Issue(
                "required",
                "Appointment.start is required unless the status is "
                + ", ".join(sorted(CANCELLATION_STATUSES))
                + ".",
                "Appointment.start",
            )
        )
    if appointment.start is not None and appointment.end is not None and appointment.end < appointment.start:
        issues.append(_Issue("invariant", "Appointment.end is before Appointment.start.", "Appointment.end"))
    for name, value in (("start", appointment.start), ("end", appointment.end)):
        if value is not None and value.utcoffset() is None:
            issues.append(
                _Issue("value", f"Appointment.{name} must carry a timezone offset.", f"Appointment.{name}")
            )

    patient_refs: list[tuple[int, str, _Entry | None]] = []
    location_refs: list[tuple[int, str, _Entry | None]] = []
    for position, participant in enumerate(appointment.participant or []):
        actor = participant.actor
        if actor is None or not actor.reference:
            continue
        target_index = refs.get(actor.reference)
        target = entries[target_index] if target_index is not None else None
        kind = _referenced_type(actor, target)
        if kind == "Patient":
            patient_refs.append((position, actor.reference, target))
        elif kind == "Location":
            location_refs.append((position, actor.reference, target))

    patient_ref: str | None = None
    patient_facts: _PatientFacts | None = None
    distinct_patients = {_normalized_ref("Patient", ref, target) for _, ref, target in patient_refs}
    if not patient_refs:
        if not cancellation:
            issues.append(
                _Issue(
                    "required",
                    "Appointment.participant has no actor referencing a Patient "
                    "(a Patient entry in this Bundle, or Patient/<id>).",
                    "Appointment.participant",
                )
            )
    elif len(distinct_patients) > 1 and not cancellation:
        issues.append(
            _Issue(
                "not-supported",
                "Appointment.participant references more than one Patient; send one Appointment per patient.",
                "Appointment.participant",
            )
        )
    else:
        position, ref, target = patient_refs[0]
        patient_ref = _normalized_ref("Patient", ref, target)
        if target is not None and target.refused:
            if not cancellation:
                issues.append(_refused_reference(position, "Patient", target))
                copied.extend(target.issues)
        elif target is not None:
            patient_facts = patients.get(target.index)

    location_ref: str | None = None
    location_facts: _LocationFacts | None = None
    if location_refs:
        position, ref, target = location_refs[0]
        location_ref = _normalized_ref("Location", ref, target)
        if target is not None and target.refused:
            if not cancellation:
                issues.append(_refused_reference(position, "Location", target))
                copied.extend(target.issues)
        elif target is not None:
            location_facts = locations.get(target.index)

    if issues:
        return issues, copied

    identifiers = [
        f"{identifier.system or ''}|{identifier.value}"
        for identifier in appointment.identifier or []
        if identifier.value
    ]
    try:
        return AppointmentIntake(
            source_id=appointment.id,
            identifiers=identifiers,
            status=status,
            start=appointment.start,
            end=appointment.end,
            patient_ref=patient_ref,
            first_name=patient_facts.first_name if patient_facts else None,
            mobile_e164=patient_facts.mobile_e164 if patient_facts else None,
            location_ref=location_ref,
            location_name=location_facts.name if location_facts else None,
            location_address=location_facts.address if location_facts else None,
            time_zone=location_facts.time_zone if location_facts else None,
        )
    except ValidationError as exc:
        return _intake_issues(exc), copied


def _refused_reference(position: int, kind: str, target: _Entry) -> _Issue:
    return _Issue(
        "invalid",
        f"Appointment.participant[{position}].actor references the {kind} in Bundle entry {target.index}, "
        "which was refused (see the issues that follow).",
        f"Appointment.participant[{position}].actor",
    )


_INTAKE_FIELD_PATHS: Final[dict[str, str]] = {
    "source_id": "Appointment.id",
    "identifiers": "Appointment.identifier",
    "status": "Appointment.status",
    "start": "Appointment.start",
    "end": "Appointment.end",
    "patient_ref": "Appointment.participant.actor",
    "first_name": "Patient.name.given",
    "mobile_e164": "Patient.telecom",
    "location_ref": "Appointment.participant.actor",
    "location_name": "Location.name",
    "location_address": "Location.address",
    "time_zone": "Location.extension",
}


def _intake_issues(exc: ValidationError) -> list[_Issue]:
    """Issues for an intake the checks above let through but the model refused (a safety net)."""
    issues: list[_Issue] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = error["loc"]
        path = _INTAKE_FIELD_PATHS.get(str(loc[0]), "Appointment") if loc else "Appointment"
        issues.append(_Issue("value", f"{path} does not have a value ClinicText can use.", path))
    return issues


def _accepted_result(entry: _Entry) -> EntryResult:
    location = (
        f"{entry.resource_type}/{entry.resource_id}" if entry.resource_type and entry.resource_id else None
    )
    outcome = None
    if entry.resource_type not in ("Patient", "Location"):
        outcome = operation_outcome(
            "informational",
            f"{entry.resource_type} resources are not stored by ClinicText; the entry was read and ignored.",
            severity="information",
        )
    return EntryResult(index=entry.index, status=OK, location=location, outcome=outcome)


def _transaction_issues(entries: list[_Entry]) -> list[_Issue]:
    """A transaction's single OperationOutcome: every refused entry's own issues, rooted at the Bundle."""
    issues: list[_Issue] = []
    for entry in entries:
        for issue in entry.issues:
            expression = issue.expression
            rtype = entry.resource_type
            if (
                expression
                and rtype
                and not expression.startswith("Bundle.entry[")
                and (expression == rtype or expression.startswith(rtype + "."))
            ):
                expression = f"Bundle.entry[{entry.index}].resource" + expression[len(rtype) :]
            issues.append(
                _Issue(
                    issue.code,
                    f"Bundle.entry[{entry.index}]: {issue.diagnostics}",
                    expression,
                    issue.severity,
                )
            )
    if not issues:  # defensive: callers only ask when something was refused
        issues.append(_Issue("invalid", "The transaction was refused."))
    return [
        _Issue(
            "processing", "The transaction was not applied because entries were refused.", severity="error"
        ),
        *issues,
    ]


# --------------------------------------------------------------------------- pydantic errors -> FHIR issues

_VALUE_PROBLEMS: Final[dict[str, str]] = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "string_pattern_mismatch": "does not have the required format",
    "string_too_short": "is too short",
    "string_too_long": "is too long",
    "greater_than_equal": "is below the allowed minimum",
    "less_than_equal": "is above the allowed maximum",
    "literal_error": "is not one of the allowed codes",
    "enum": "is not one of the allowed codes",
}


def _fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        name = "resourceType" if part == "resource_type" else part
        if name.endswith("__ext"):
            name = "_" + name[: -len("__ext")]
        # Unknown element names come from the sender: show them only when they look like element names.
        path += "." + (name if _ELEMENT_NAME.fullmatch(name) else "<element>")
    return path


def _validation_issues(exc: ValidationError, root: str) -> list[_Issue]:
    """FHIR issues for a ``fhir.resources`` validation error, without ever including the input values."""
    issues: list[_Issue] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        kind = error["type"]
        path = _fhirpath(root, tuple(error["loc"]))
        if kind == "missing" or kind.endswith(".missing"):
            issues.append(_Issue("required", f"{path} is required.", path))
        elif kind == "extra_forbidden":
            issues.append(_Issue("structure", f"{path} is not an element of {root} in FHIR R4.", path))
        elif root == "Appointment" and path in ("Appointment.start", "Appointment.end"):
            issues.append(
                _Issue(
                    "value",
                    f"{path} must be a FHIR instant with a timezone offset, e.g. 2025-03-01T09:30:00-08:00.",
                    path,
                )
            )
        else:
            problem = _VALUE_PROBLEMS.get(kind, "does not have a valid value")
            issues.append(_Issue("value", f"{path} {problem}.", path))
    return issues or [_Issue("invalid", f"{root} is not valid FHIR R4.", root)]
