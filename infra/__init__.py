"""Build, emulate and operate ClinicText infrastructure: the local sandbox, build checks, the CLI."""
