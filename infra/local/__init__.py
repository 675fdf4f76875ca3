"""The embedded local AWS: template provisioning into moto and Lambda-style invocation."""
