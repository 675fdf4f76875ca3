"""Appointment ingest: FHIR R4 Bundles and CSV files in, ``AppointmentIntake``s out. Pure: no AWS."""

from shared.ingest.csv_import import CsvRejected, CsvReport, CsvRowResult, parse_csv
from shared.ingest.fhir import BundleRejected, ParsedBundle, batch_response, operation_outcome, parse_bundle
from shared.ingest.models import AppointmentIntake, EntryResult

__all__ = [
    "AppointmentIntake",
    "BundleRejected",
    "CsvRejected",
    "CsvReport",
    "CsvRowResult",
    "EntryResult",
    "ParsedBundle",
    "batch_response",
    "operation_outcome",
    "parse_bundle",
    "parse_csv",
]
