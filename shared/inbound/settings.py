"""Settings of the Twilio webhook: where the auth token lives and the URL Twilio signs."""

from __future__ import annotations

from shared.runtime.settings import CoreSettings


class TwilioSettings(CoreSettings):
    """Twilio webhook: where the auth token lives and the public URL Twilio signs."""

    twilio_auth_token_secret_arn: str = ""
    twilio_auth_token_parameter: str = ""
    public_base_url: str = ""
    token_cache_seconds: int = 300
