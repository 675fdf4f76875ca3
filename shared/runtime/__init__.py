"""The Lambda runtime: boto3 clients, settings, observability, HTTP helpers, the wiring caches."""
