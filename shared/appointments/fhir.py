"""FHIR R4 appointment ingest: a batch/transaction/collection Bundle in, ``AppointmentIntake``s out.

Be exact about what is read, lenient about what is skipped. ClinicText reads a handful of elements:
``Bundle.type`` and ``Bundle.entry`` (``fullUrl``, ``request.method``, ``resource``); ``Appointment.id``,
``status``, ``start``, ``end`` and ``participant.actor``; ``Patient.id``, ``name`` (use, given) and
``telecom`` (system, value, use, rank); ``Location.id``, ``name``, ``address`` (line, city) and the HL7
``timezone`` extension. Each of those is validated with the FHIR datatypes of ``fhir.resources`` (its
``fhir_core`` primitives: id, code, instant, string, uri, positiveInt). Nothing else is validated or kept:
narrative, meta, contained resources, extensions (such as Oracle Health's ``action-comment`` with an empty
``valueString``), codes, comments and elements unknown to R4 never make an entry fail, and never reach a
text, a table or a log.

Two elements are not skipped, because skipping them would change what a resource means:

* ``modifierExtension`` (on the resource, or on an Appointment participant). FHIR requires a system that does
  not understand one to not process the resource, so the entry is refused ("not-supported"); a
  cancellation is still applied, since stopping reminders is safe whatever the modifier says.
* A cancellation (``cancelled``, ``noshow``, ``entered-in-error``) is never lost to a validation detail
  elsewhere in the resource: when the id and status can be read, the cancellation is applied, and what could
  not be read is reported as warnings on that entry.

Each entry is validated on its own, so one bad entry gets its own ``400 Bad Request`` with an
OperationOutcome while the others proceed (batch and collection). A transaction is all or nothing, as FHIR
requires: one refused entry refuses the whole Bundle. A Bundle of more than :data:`MAX_BUNDLE_ENTRIES` entries
is refused as a whole (413), so that one request is always processed well inside the HTTP API's 30 seconds.

Error messages name the offending element (a FHIRPath expression), never its value: values may be PHI.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, cast

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import CodeType, IdType, InstantType, PositiveIntType, StringType, UriType
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.appointments.intake import (
    APPOINTMENT_STATUSES,
    CANCELLATION_STATUSES,
    FIRST_NAME_MAX,
    LOCATION_ADDRESS_MAX,
    LOCATION_NAME_MAX,
    REMINDABLE_STATUSES,
    UNSCHEDULED_STATUSES,
    AppointmentIntake,
    EntryResult,
    is_fhir_id,
    is_iana_time_zone,
    mobile_to_e164,
    sms_problem,
    text_problem,
)
from shared.core.clock import check_instant
from shared.core.dates import birth_date_problem

__all__ = [
    "MAX_BUNDLE_ENTRIES",
    "TIMEZONE_EXTENSION_URL",
    "BundleRejected",
    "BundleTooLarge",
    "ParsedBundle",
    "batch_response",
    "operation_outcome",
    "parse_bundle",
]

TIMEZONE_EXTENSION_URL: Final[str] = "http://hl7.org/fhir/StructureDefinition/timezone"
ACCEPTED_BUNDLE_TYPES: Final[frozenset[str]] = frozenset({"batch", "transaction", "collection"})
MAX_ISSUES_PER_OUTCOME: Final[int] = 20
# The most entries one Bundle may hold. A full Bundle of Appointments is stored well inside the HTTP API's
# 30-second limit (docs: README "Feeding appointments in"); a bigger export is sent as several Bundles.
MAX_BUNDLE_ENTRIES: Final[int] = 500
# Longest diagnostics / expression text in an issue, so that a response always stays far below Lambda's
# 6 MB (500 entries x 21 issues x these bounds < 6 MB).
_MAX_DIAGNOSTICS: Final[int] = 300
_MAX_EXPRESSION: Final[int] = 120
# The deepest JSON nesting read (a real Bundle is about 10 deep); deeper bodies are refused before parsing.
MAX_JSON_DEPTH: Final[int] = 64
# Python refuses integers of more than 4300 digits with a ValueError; FHIR has no integer anywhere near that.
_MAX_INT_DIGITS: Final[int] = 20

OK: Final[str] = "200 OK"
BAD_REQUEST: Final[str] = "400 Bad Request"

IssueSeverity = Literal["fatal", "error", "warning", "information"]
ResponseType = Literal["batch-response", "transaction-response"]

_BUNDLE_TYPES: Final[frozenset[str]] = frozenset(
    {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history"}
    | {"searchset", "collection"}
)
_UNSUPPORTED_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD", "DELETE", "PATCH"})
_READ_TYPES: Final[frozenset[str]] = frozenset({"Appointment", "Patient", "Location"})
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
            "diagnostics": _bounded(self.diagnostics, _MAX_DIAGNOSTICS),
        }
        if self.expression:
            issue["expression"] = [_bounded(self.expression, _MAX_EXPRESSION)]
        return issue

    def as_warning(self) -> _Issue:
        return _Issue(self.code, self.diagnostics, self.expression, "warning")


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def outcome_issue(
    code: str, diagnostics: str, expression: str | None = None, severity: IssueSeverity = "error"
) -> dict[str, Any]:
    """One OperationOutcome.issue (bounded in size), for callers that gather issues of their own."""
    return _Issue(code, diagnostics, expression, severity).as_fhir()


def outcome_of(issues: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome of issue dicts (as :func:`outcome_issue` makes them), capped in number."""
    shown = list(issues[:MAX_ISSUES_PER_OUTCOME])
    if len(issues) > MAX_ISSUES_PER_OUTCOME:
        more = len(issues) - MAX_ISSUES_PER_OUTCOME
        shown.append(
            outcome_issue("too-costly", f"{more} further issue(s) not listed.", severity="information")
        )
    return {"resourceType": "OperationOutcome", "issue": shown}


class BundleRejected(Exception):
    """The request as a whole cannot be processed; answer :attr:`status` with :attr:`outcome`."""

    status: int = 400

    def __init__(self, outcome: dict[str, Any]) -> None:
        issues = outcome.get("issue") or [{}]
        super().__init__(str(issues[0].get("diagnostics", "Bundle rejected")))
        self.outcome = outcome


class BundleTooLarge(BundleRejected):
    """More entries than :data:`MAX_BUNDLE_ENTRIES`: 413 Content Too Large, nothing processed."""

    status = 413


def _reject(code: str, diagnostics: str, expression: str | None = None) -> BundleRejected:
    return BundleRejected(operation_outcome(code, diagnostics, expression))


# --------------------------------------------------------------------------- results


class ParsedBundle(BaseModel):
    """What a request Bundle held: the appointments to store, and the answers already known.

    ``intakes`` pairs each Appointment with its entry index; storing them is the caller's job, and so is their
    ``EntryResult`` ("201 Created" / "200 OK"). ``rejected`` holds the entries refused with 400, ``accepted``
    the other entries that were valid (Patient and Location: "200 OK"). ``warnings`` holds, per Appointment
    entry, issues its answer must carry although it was accepted (what was skipped in a cancellation, why
    its patient cannot be texted).
    """

    model_config = ConfigDict(frozen=True)

    bundle_type: Literal["batch", "transaction", "collection"]
    entry_count: int
    intakes: list[tuple[int, AppointmentIntake]]
    rejected: list[EntryResult]
    accepted: list[EntryResult]
    warnings: dict[int, list[dict[str, Any]]] = {}

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


# --------------------------------------------------------------------------- what is read


class _Read(BaseModel):
    """Only the elements ClinicText reads, typed with fhir.resources' FHIR primitives; the rest is skipped."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Reference(_Read):
    reference: StringType | None = None
    type: UriType | None = None


class _Participant(_Read):
    actor: _Reference | None = None


class _AppointmentRead(_Read):
    id: IdType | None = None
    status: CodeType | None = None
    start: InstantType | None = None
    end: InstantType | None = None
    participant: list[_Participant] | None = None


class _HumanName(_Read):
    use: CodeType | None = None
    given: list[StringType] | None = None


class _ContactPoint(_Read):
    system: CodeType | None = None
    value: StringType | None = None
    use: CodeType | None = None
    rank: PositiveIntType | None = None


class _PatientRead(_Read):
    id: IdType | None = None
    name: list[_HumanName] | None = None
    birthDate: str | None = None  # FHIR's name; validated as a FHIR date by the full model
    telecom: list[_ContactPoint] | None = None


class _Address(_Read):
    line: list[StringType] | None = None
    city: StringType | None = None


class _LocationRead(_Read):
    id: IdType | None = None
    name: StringType | None = None
    address: _Address | None = None


_READ_MODELS: Final[dict[str, type[_Read]]] = {
    "Appointment": _AppointmentRead,
    "Patient": _PatientRead,
    "Location": _LocationRead,
}


# --------------------------------------------------------------------------- parsing


@dataclass
class _Entry:
    index: int
    full_url: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    raw: dict[str, Any] | None = None  # the resource as sent (for a cancellation that did not validate)
    resource: Any = None  # the _Read projection, None when it did not validate
    issues: list[_Issue] = field(default_factory=list)  # this entry's own problems
    warnings: list[_Issue] = field(default_factory=list)  # accepted, but the answer must say this

    @property
    def refused(self) -> bool:
        return bool(self.issues)


@dataclass(frozen=True)
class _PatientFacts:
    first_name: str | None
    mobile_e164: str | None
    no_mobile: _Issue | None = None  # why no number of this patient can be texted
    birth_date: str | None = None  # a full YYYY-MM-DD only (a partial FHIR date cannot check anyone)


@dataclass(frozen=True)
class _LocationFacts:
    name: str | None
    address: str | None
    time_zone: str | None


def parse_bundle(body: bytes | str | dict[str, Any], *, default_region: str = "US") -> ParsedBundle:
    """Read a FHIR R4 Bundle of Appointments (with their Patients and Locations) into intakes.

    Raises :class:`BundleRejected` when the body is not JSON, not a Bundle, not of type batch, transaction or
    collection, or (transaction only) when any entry is refused; :class:`BundleTooLarge` beyond
    :data:`MAX_BUNDLE_ENTRIES` entries. Numbers without a country code are read as numbers of
    ``default_region``, which also decides which numbers can be texted (see ``sms_problem``).
    """
    try:
        return _parse(_load(body), default_region)
    except RecursionError as exc:
        raise _reject("too-costly", "The Bundle is nested too deeply to process.") from exc


def _too_deep(data: Any) -> bool:
    """True when ``data`` nests deeper than :data:`MAX_JSON_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(key)
        data[key] = value
    return data


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _load(body: bytes | str | dict[str, Any]) -> Any:
    data = body if isinstance(body, dict) else _decode(body)
    if _too_deep(data):
        raise _reject("too-costly", f"The Bundle is nested more than {MAX_JSON_DEPTH} levels deep.")
    return data


def _decode(body: bytes | str) -> Any:
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
        return json.loads(text, parse_constant=no_constants, parse_int=_int, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise _reject(
            "structure", f"The request body is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from exc
    except _DuplicateKey as exc:
        raise _reject(
            "structure", "The request body repeats a property name inside one JSON object (FHIR forbids it)."
        ) from exc
    except ValueError as exc:  # NaN / Infinity, or an integer of absurd length
        raise _reject(
            "structure",
            f"The request body is not valid FHIR JSON (NaN, Infinity, or an integer of more than "
            f"{_MAX_INT_DIGITS} digits).",
        ) from exc


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
    bundle_type = data.get("type")
    if bundle_type is None:
        raise _reject("required", "Bundle.type is required.", "Bundle.type")
    if not isinstance(bundle_type, str) or bundle_type not in ACCEPTED_BUNDLE_TYPES:
        shown = (
            f" (got {bundle_type})" if isinstance(bundle_type, str) and bundle_type in _BUNDLE_TYPES else ""
        )
        raise _reject(
            "not-supported", f"Bundle.type must be batch, transaction or collection{shown}.", "Bundle.type"
        )
    if len(raw_entries) > MAX_BUNDLE_ENTRIES:
        raise BundleTooLarge(
            operation_outcome(
                "too-costly",
                f"The Bundle holds {len(raw_entries)} entries; ClinicText takes at most {MAX_BUNDLE_ENTRIES} "
                "per Bundle. Send the rest in further Bundles (nothing in this one was processed).",
                "Bundle.entry",
            )
        )
    kind = cast(Literal["batch", "transaction", "collection"], bundle_type)

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
                if facts_or_issues.no_mobile is not None:
                    entry.warnings.append(facts_or_issues.no_mobile)
        elif entry.resource_type == "Location":
            location_or_issues = _location_facts(entry.resource, entry.raw or {})
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
            entry.warnings.clear()
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
    warnings: dict[int, list[dict[str, Any]]] = {}
    for entry in entries:
        if entry.refused:
            issues = refusals.get(entry.index, entry.issues)
            rejected.append(EntryResult(index=entry.index, status=BAD_REQUEST, outcome=_outcome(issues)))
        elif entry.resource_type != "Appointment":
            accepted.append(_accepted_result(entry))
        elif entry.warnings:
            warnings[entry.index] = [issue.as_fhir() for issue in entry.warnings]

    if kind == "transaction" and rejected:
        raise BundleRejected(_outcome(_transaction_issues(entries)))

    return ParsedBundle(
        bundle_type=kind,
        entry_count=len(entries),
        intakes=intakes,
        rejected=rejected,
        accepted=accepted,
        warnings=warnings,
    )


def _read_entry(index: int, raw: Any) -> _Entry:
    entry = _Entry(index)
    root = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        entry.issues.append(_Issue("structure", f"{root} must be a JSON object.", root))
        return entry
    full_url = raw.get("fullUrl")
    if full_url is not None:
        if not isinstance(full_url, str) or not full_url or any(c.isspace() for c in full_url):
            entry.issues.append(
                _Issue("value", f"{root}.fullUrl must be a URI (a string without spaces).", f"{root}.fullUrl")
            )
            return entry
        entry.full_url = full_url
    request = raw.get("request")
    if request is not None:
        method = request.get("method") if isinstance(request, dict) else None
        if not isinstance(request, dict) or (method is not None and not isinstance(method, str)):
            entry.issues.append(
                _Issue("structure", f"{root}.request must be an object with a method.", f"{root}.request")
            )
            return entry
        if method in _UNSUPPORTED_METHODS:
            entry.issues.append(
                _Issue(
                    "not-supported",
                    f"{root}.request.method {method} is not supported; send POST or PUT with the resource.",
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
    if not isinstance(resource_type, str) or not _is_resource_type(resource_type):
        entry.issues.append(
            _Issue(
                "invalid",
                f"{root}.resource.resourceType is missing or is not a FHIR R4 resource type.",
                f"{root}.resource.resourceType",
            )
        )
        return entry
    entry.resource_type = resource_type
    entry.raw = resource
    raw_id = resource.get("id")
    entry.resource_id = raw_id if isinstance(raw_id, str) and is_fhir_id(raw_id) else None
    model = _READ_MODELS.get(resource_type)
    if model is None:
        return entry  # read and ignored: never validated, never kept

    issues = _modifier_issues(resource_type, resource)
    if resource_type == "Appointment":
        # A JSON number would be read as seconds since 1970; FHIR JSON instants are strings.
        for name in ("start", "end"):
            if name in resource and not isinstance(resource[name], str):
                issues.append(
                    _Issue(
                        "value",
                        f"Appointment.{name} must be a string holding an instant.",
                        f"Appointment.{name}",
                    )
                )
    try:
        projection = model.model_validate(resource)
    except ValidationError as exc:
        issues.extend(_validation_issues(exc, resource_type))
    else:
        if not issues:
            entry.resource = projection
    entry.issues.extend(issues)
    if resource_type == "Appointment" and entry.issues and _readable_cancellation(resource):
        # Applied anyway (see the module docstring); what could not be read is reported, not fatal.
        entry.warnings.extend(issue.as_warning() for issue in entry.issues)
        entry.issues.clear()
    return entry


def _modifier_issues(resource_type: str, resource: dict[str, Any]) -> list[_Issue]:
    """A modifierExtension on the resource or on an element that is read: refused (FHIR: must not process)."""
    issues: list[_Issue] = []
    places: list[tuple[str, Any]] = [(resource_type, resource)]
    if resource_type == "Appointment" and isinstance(resource.get("participant"), list):
        places += [
            (f"Appointment.participant[{i}]", participant)
            for i, participant in enumerate(resource["participant"])
        ]
    for path, element in places:
        if isinstance(element, dict) and element.get("modifierExtension"):
            issues.append(
                _Issue(
                    "not-supported",
                    f"{path}.modifierExtension changes what the {resource_type} means and ClinicText does "
                    f"not understand it, so the {resource_type} was not applied (FHIR forbids processing "
                    "it).",
                    f"{path}.modifierExtension",
                )
            )
    return issues


def _readable_cancellation(resource: dict[str, Any]) -> bool:
    status, raw_id = resource.get("status"), resource.get("id")
    return (
        isinstance(status, str)
        and status in CANCELLATION_STATUSES
        and isinstance(raw_id, str)
        and is_fhir_id(raw_id)
    )


def _is_resource_type(resource_type: str) -> bool:
    if not _ELEMENT_NAME.fullmatch(resource_type):
        return False
    if resource_type in _READ_TYPES:
        return True
    try:
        get_fhir_model_class(resource_type)
    except (ValueError, KeyError, TypeError, AttributeError, ImportError):
        return False
    return True


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
            if first != entry.index and entry.resource_type in ("Patient", "Location") and not entry.refused:
                entry.issues.append(
                    _Issue("duplicate", f"{expression} repeats the one in Bundle entry {first}.", expression)
                )
    return refs


def _patient_facts(patient: _PatientRead, default_region: str) -> _PatientFacts | list[_Issue]:
    """First name of the usual (else official, else unlabelled) name, and the preferred texting number."""
    first_name: str | None = None
    names = patient.name or []
    for wanted in ("usual", "official", None):
        for position, name in enumerate(names):
            if name.use == wanted and name.given and name.given[0] and name.given[0].strip():
                candidate = name.given[0].strip()
                problem = text_problem(candidate, max_length=FIRST_NAME_MAX)
                if problem:
                    expression = f"Patient.name[{position}].given[0]"
                    return [_Issue("value", f"{expression} {problem}.", expression)]
                first_name = " ".join(candidate.split())
                break
        if first_name:
            break

    # Date of birth: kept (encrypted, with the contact) only when it is a full date; a partial one ("1980",
    # "1980-02") is valid FHIR but identifies nobody, so it is left out.
    birth_date = (
        patient.birthDate if patient.birthDate and not birth_date_problem(patient.birthDate) else None
    )

    # Texting numbers: system sms, or a mobile phone. Lowest rank wins (no rank = least preferred), then
    # document order. When the preferred one is not a valid number, nobody is texted: we never fall back to
    # a number ranked lower because the preferred one is mistyped (it may be the number the patient left).
    # A valid number that cannot take texts (a landline labelled sms, a number abroad) is passed over for
    # the next one that can. Either way the Patient and its appointments are accepted, with a warning: the
    # EHR is told that no text can be sent and why, and an appointment that moved is still moved.
    telecoms = patient.telecom or []
    candidates = sorted(
        (
            (telecom.rank if telecom.rank is not None else math.inf, position, telecom)
            for position, telecom in enumerate(telecoms)
            if telecom.value
            and telecom.use != "old"
            and (telecom.system == "sms" or (telecom.system == "phone" and telecom.use == "mobile"))
        ),
        key=lambda c: (c[0], c[1]),
    )
    unusable: _Issue | None = None
    for order, (_, position, telecom) in enumerate(candidates):
        mobile = mobile_to_e164(telecom.value or "", default_region)
        expression = f"Patient.telecom[{position}].value"
        if mobile is None:
            if order == 0:
                unusable = _Issue(
                    "value",
                    f"No text can be sent to this patient: Patient.telecom[{position}] (the preferred "
                    "SMS-capable number) is not a valid phone number; send it in E.164 form such as "
                    f"+12065550123 (numbers without a country code are read as {default_region} numbers).",
                    expression,
                    "warning",
                )
                break
            continue
        problem = sms_problem(mobile, default_region)
        if problem is None:
            return _PatientFacts(first_name=first_name, mobile_e164=mobile, birth_date=birth_date)
        unusable = unusable or _Issue(
            "business-rule",
            f"No text can be sent to this patient: Patient.telecom[{position}] {problem}.",
            expression,
            "warning",
        )
    if unusable is None:
        others = any(t.system == "phone" and t.value for t in telecoms)
        why = (
            "lists phone numbers, but none marked as able to take texts (system sms, or system phone with "
            "use mobile); home and work phones are never texted"
            if others
            else "has no mobile number (system sms, or system phone with use mobile)"
        )
        unusable = _Issue(
            "business-rule",
            f"No text can be sent to this patient: Patient.telecom {why}.",
            "Patient.telecom",
            "warning",
        )
    return _PatientFacts(first_name=first_name, mobile_e164=None, no_mobile=unusable, birth_date=birth_date)


def _location_facts(location: _LocationRead, raw: dict[str, Any]) -> _LocationFacts | list[_Issue]:
    """Name, a one-line street/city address and the IANA time zone of a Location."""
    name: str | None = None
    if location.name and location.name.strip():
        problem = text_problem(location.name.strip(), max_length=LOCATION_NAME_MAX)
        if problem:
            return [_Issue("value", f"Location.name {problem}.", "Location.name")]
        name = " ".join(location.name.split())
    address: str | None = None
    if location.address is not None:
        parts: list[tuple[str, str]] = [
            (f"Location.address.line[{i}]", line)
            for i, line in enumerate(location.address.line or [])
            if line
        ]
        if location.address.city:
            parts.append(("Location.address.city", location.address.city))
        kept: list[str] = []
        for expression, part in parts:
            if not part.strip():
                continue
            problem = text_problem(part.strip(), max_length=LOCATION_ADDRESS_MAX)
            if problem:
                return [_Issue("value", f"{expression} {problem}.", expression)]
            kept.append(" ".join(part.split()))
        single = ", ".join(kept)
        if len(single) > LOCATION_ADDRESS_MAX:
            return [
                _Issue(
                    "value",
                    f"Location.address is longer than {LOCATION_ADDRESS_MAX} characters once its lines and "
                    "city are joined; a reminder names the street and city only.",
                    "Location.address",
                )
            ]
        address = single or None
    time_zone: str | None = None
    extensions = raw.get("extension")
    for position, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if not isinstance(extension, dict) or extension.get("url") != TIMEZONE_EXTENSION_URL:
            continue  # not read: skipped whatever it holds
        expression = f"Location.extension[{position}].valueCode"
        value = extension.get("valueCode")
        if not isinstance(value, str) or not is_iana_time_zone(value):
            return [
                _Issue(
                    "value",
                    f"{expression} must be an IANA time zone such as America/Los_Angeles.",
                    expression,
                )
            ]
        time_zone = value
        break
    return _LocationFacts(name=name, address=address, time_zone=time_zone)


def _referenced_type(reference: _Reference, target: _Entry | None) -> str | None:
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


def _instant(name: str, value: Any, issues: list[_Issue]) -> datetime | None:
    """``Appointment.start``/``end`` in UTC, or None with an issue saying why it cannot be used."""
    if value is None:
        return None
    path = f"Appointment.{name}"
    if not isinstance(value, datetime):  # fhir_core keeps a leap second (..:60) as text
        issues.append(_Issue("value", f"{path} is a leap second, which ClinicText cannot schedule.", path))
        return None
    try:
        return check_instant(value)
    except ValueError as exc:
        issues.append(_Issue("value", f"{path} {exc}.", path))
        return None


def _appointment_intake(
    entry: _Entry,
    entries: list[_Entry],
    refs: dict[str, int],
    patients: dict[int, _PatientFacts],
    locations: dict[int, _LocationFacts],
) -> AppointmentIntake | tuple[list[_Issue], list[_Issue]]:
    """Build the intake, or return (this entry's issues, issues copied from the entries it references)."""
    if entry.resource is None:  # a cancellation whose other elements could not be read (see _read_entry)
        raw = entry.raw or {}
        return AppointmentIntake(source_id=raw["id"], status=raw["status"])
    appointment: _AppointmentRead = entry.resource
    issues: list[_Issue] = []
    copied: list[_Issue] = []
    status = appointment.status
    cancellation = status in CANCELLATION_STATUSES
    if status is None:
        issues.append(_Issue("required", "Appointment.status is required.", "Appointment.status"))
    elif status not in APPOINTMENT_STATUSES:
        issues.append(
            _Issue(
                "code-invalid",
                "Appointment.status must be one of " + ", ".join(sorted(APPOINTMENT_STATUSES)) + ".",
                "Appointment.status",
            )
        )
    if not appointment.id:
        issues.append(_Issue("required", "Appointment.id is required.", "Appointment.id"))
    elif not is_fhir_id(appointment.id):
        issues.append(_Issue("value", "Appointment.id is longer than 64 characters.", "Appointment.id"))
    # Instants are checked in UTC, inside shared.core.clock's window, so what is stored always reads back.
    times: list[_Issue] = []
    start = _instant("start", appointment.start, times)
    end = _instant("end", appointment.end, times)
    if appointment.start is None and status not in UNSCHEDULED_STATUSES:
        times.append(
            _Issue(
                "required",
                "Appointment.start is required unless the status is "
                + ", ".join(sorted(UNSCHEDULED_STATUSES))
                + ".",
                "Appointment.start",
            )
        )
    if start is not None and end is not None and end < start:
        times.append(_Issue("invariant", "Appointment.end is before Appointment.start.", "Appointment.end"))
    if cancellation:  # the cancellation is applied; times it cannot use are left out and reported
        entry.warnings.extend(issue.as_warning() for issue in times)
        start = None if any(i.expression == "Appointment.start" for i in times) else start
        end = None if times else end
    else:
        issues.extend(times)

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
        if len(patient_ref) > 256:
            patient_ref = None
            if not cancellation:
                issues.append(_too_long_reference(position))
        elif target is not None and target.refused:
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
        if len(location_ref) > 256:
            location_ref = None
        elif target is not None and target.refused:
            if not cancellation:
                issues.append(_refused_reference(position, "Location", target))
                copied.extend(target.issues)
        elif target is not None:
            location_facts = locations.get(target.index)

    if issues:
        return issues, copied

    if status in REMINDABLE_STATUSES and patient_facts is not None and patient_facts.no_mobile is not None:
        entry.warnings.append(patient_facts.no_mobile)
    try:
        return AppointmentIntake(
            source_id=appointment.id,
            status=status,
            start=start,
            end=end,
            patient_ref=patient_ref,
            patient_sent=patient_facts is not None,
            first_name=patient_facts.first_name if patient_facts else None,
            mobile_e164=patient_facts.mobile_e164 if patient_facts else None,
            birth_date=patient_facts.birth_date if patient_facts else None,
            location_ref=location_ref,
            location_sent=location_facts is not None,
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


def _too_long_reference(position: int) -> _Issue:
    expression = f"Appointment.participant[{position}].actor.reference"
    return _Issue("value", f"{expression} is longer than 256 characters.", expression)


_INTAKE_FIELD_PATHS: Final[dict[str, str]] = {
    "source_id": "Appointment.id",
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
    issues = list(entry.warnings)
    if entry.resource_type not in ("Patient", "Location"):
        issues.append(
            _Issue(
                "informational",
                f"{entry.resource_type} resources are not stored by ClinicText; the entry was read and "
                "ignored.",
                severity="information",
            )
        )
    return EntryResult(
        index=entry.index, status=OK, location=location, outcome=_outcome(issues) if issues else None
    )


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
