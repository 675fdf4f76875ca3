"""template.yaml's staff web app: a private bucket that only the distribution's origin access control
reads, over TLS; CloudFront redirecting to HTTPS with the security headers on every behaviour; the inbox
API on the same origin, never cached; a CSP that allows only self, the API and Cognito."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.local.web_app import WebConfig
from tests.template.cfn import RESOURCES, TEMPLATE, of_type, props

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def _sub(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    assert isinstance(value, str), value
    return value


def _config() -> dict[str, Any]:
    return props("WebDistribution")["DistributionConfig"]


def _behaviours() -> list[dict[str, Any]]:
    config = _config()
    return [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]


def test_web_bucket_is_private_encrypted_and_owner_enforced() -> None:
    bucket = props("WebBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert "WebsiteConfiguration" not in bucket  # served through the REST endpoint and OAC only


def _statements(policy: str) -> list[dict[str, Any]]:
    return props(policy)["PolicyDocument"]["Statement"]


def test_only_the_distributions_oac_may_read_and_only_over_tls() -> None:
    allows = [s for s in _statements("WebBucketPolicy") if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source = _sub(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert source.endswith(":distribution/${WebDistribution}")
    denies = [s for s in _statements("WebBucketPolicy") if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    oac = props("WebOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["SigningBehavior"], oac["SigningProtocol"], oac["OriginAccessControlOriginType"]) == (
        "always",
        "sigv4",
        "s3",
    )
    (web,) = [o for o in _config()["Origins"] if o["Id"] == "web"]
    assert web["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    assert web["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI


def test_every_behaviour_is_https_with_the_security_headers() -> None:
    for behaviour in _behaviours():
        assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only"), behaviour
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "WebResponseHeaders"}
    assert _config()["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (api,) = [o for o in _config()["Origins"] if o["Id"] == "api"]
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_the_inbox_api_and_config_are_never_cached() -> None:
    by_path = {b.get("PathPattern"): b for b in _behaviours()}
    assert by_path["/inbox/*"]["TargetOriginId"] == "api"
    assert by_path["/inbox/*"]["CachePolicyId"] == CACHING_DISABLED
    assert {"POST", "PUT"} <= set(by_path["/inbox/*"]["AllowedMethods"])
    assert by_path["/config.json"]["CachePolicyId"] == CACHING_DISABLED


def _headers() -> dict[str, Any]:
    return props("WebResponseHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]


def _csp() -> dict[str, list[str]]:
    text = " ".join(_sub(_headers()["ContentSecurityPolicy"]["ContentSecurityPolicy"]).split())
    directives = {}
    for part in text.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_csp_allows_only_self_the_api_and_cognito() -> None:
    csp = _csp()
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["connect-src"] == [
        "'self'",
        "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}",
        "https://${ClinicApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}",
    ]
    sources = [source for values in csp.values() for source in values]
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(sources)
    assert not [source for source in sources if source.startswith("http://")]
    assert _headers()["ContentSecurityPolicy"]["Override"] is True


def test_hsts_no_framing_nosniff_no_referrer() -> None:
    headers = _headers()
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["StrictTransportSecurity"]["IncludeSubdomains"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"


def test_access_logs_are_kept() -> None:
    assert props("WebBucket")["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "WebLogBucket"}
    assert _config()["Logging"]["Bucket"] == {"Fn::GetAtt": ["WebLogBucket", "RegionalDomainName"]}


def test_no_other_bucket_or_distribution_is_public() -> None:
    for name in of_type("AWS::S3::Bucket"):
        assert set(props(name)["PublicAccessBlockConfiguration"].values()) == {True}, name
    assert of_type("AWS::CloudFront::Distribution") == ["WebDistribution"]


def test_the_config_output_is_what_the_app_reads() -> None:
    output = _sub(TEMPLATE["Outputs"]["WebConfigJson"]["Value"])
    config = json.loads(re.sub(r"\$\{[^}]+\}", "x_1", output))
    assert config["authFlow"] == "USER_SRP_AUTH"  # MFA-capable SRP when deployed, never the password flow
    assert config["apiBaseUrl"] == ""  # same origin: /inbox/* goes through CloudFront
    sandbox = json.loads(WebConfig("r", "p_1", "c", "http://x").as_json())
    assert set(config) <= set(sandbox)


@pytest.mark.parametrize("name", ["WebBucket", "WebLogBucket"])
def test_buckets_are_versioned(name: str) -> None:
    assert RESOURCES[name]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
