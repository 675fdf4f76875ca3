"""Builds template.yaml's resources in an AWS endpoint (moto) and runs its functions as Lambda would.

The template is the contract: tables, keys, topics, queues, environment variables and event sources
all come from it. Nothing here knows a table's schema on its own.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from infra.local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"

DEFAULT_PARAMETERS = {
    "ClinicName": "Riverside Family Clinic",
    "SupportContact": "(206) 555-0100",
    "ClinicPhone": "(206) 555-0100",
    "DefaultTimeZone": "America/Los_Angeles",
    "OriginationNumber": "+12065550100",
    "TwilioAuthTokenSecretArn": "",
    "TwilioAuthTokenParameterName": "",
    "PublicBaseUrl": "",
    # moto's Cognito cannot run a TOTP challenge interactively: the local pool runs without MFA and lets
    # the sandbox's CLI sign in with USER_PASSWORD_AUTH (template.yaml, StaffSandbox).
    "StaffSandbox": "true",
}

INVOKE_LOCK = threading.RLock()
_NO_VALUE = object()  # AWS::NoValue, once resolved: dropped from the enclosing object or list


class UnsupportedTemplate(Exception):
    pass


@dataclass
class LambdaContext:
    """What Lambda passes as ``context``; enough for Powertools."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 20
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    handler: str
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    timeout: int
    memory: int

    def invoke(self, event: Any) -> Any:
        """Run the handler with this function's environment, as one Lambda invocation."""
        module_name, func_name = self.handler.rsplit(".", 1)
        with INVOKE_LOCK, function_environment(self.environment):
            module = importlib.import_module(module_name)
            handler = getattr(module, func_name)
            context = LambdaContext(self.logical_id, self.memory, self.timeout)
            return handler(json.loads(json.dumps(event)), context)

    def http_routes(self) -> list[tuple[str, str, bool]]:
        """(method, path, requires_iam) for each HttpApi event."""
        return [(method, path, auth == "AWS_IAM") for method, path, auth, _scopes in self.http_route_auth()]

    def http_route_auth(self) -> list[tuple[str, str, str, list[str]]]:
        """(method, path, authorizer, scopes) for each HttpApi event: ``AWS_IAM`` (the API's default),
        ``NONE``, or the name of one of the API's authorizers (``StaffJwt``)."""
        routes = []
        for event in self.events.values():
            if event.get("Type") == "HttpApi":
                props = event.get("Properties", {})
                auth = props.get("Auth") or {}
                routes.append(
                    (
                        props["Method"].upper(),
                        props["Path"],
                        str(auth.get("Authorizer", "AWS_IAM")),
                        [str(scope) for scope in auth.get("AuthorizationScopes") or []],
                    )
                )
        return routes


@contextlib.contextmanager
def function_environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# Building a Stack parses template.yaml (~0.3 s) and creates about 25 boto3 clients (~0.45 s); the test suite
# builds one per test. Both are cached: the template per file version (each Stack gets its own copy), and
# the session and clients per region, endpoint and credentials, so a sandbox on another port gets its own.
# moto's mock intercepts clients made before it started, so cached clients stay inside each test's mock.
@functools.lru_cache(maxsize=8)
def _parsed_template(path: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    return load_template(path)


def _template(path: Path | str) -> dict[str, Any]:
    stat = Path(path).stat()
    return copy.deepcopy(_parsed_template(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size))


def _endpoint() -> tuple[str | None, str | None]:
    return os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID")


@functools.lru_cache(maxsize=16)
def _session(region: str, _endpoint_url: str | None, _access_key: str | None) -> boto3.session.Session:
    return boto3.session.Session(region_name=region)


@functools.lru_cache(maxsize=256)
def _client(session: boto3.session.Session, service: str) -> Any:
    return session.client(service)  # type: ignore[call-overload]


@functools.lru_cache(maxsize=64)
def _resource(session: boto3.session.Session, service: str) -> Any:
    return session.resource(service)  # type: ignore[call-overload]


class Stack:
    """template.yaml, provisioned into whatever endpoint boto3 currently talks to."""

    def __init__(
        self,
        template_path: Path | str = TEMPLATE,
        parameters: dict[str, str] | None = None,
        *,
        region: str = REGION,
        name: str = "clinictext",
    ) -> None:
        self.template = _template(template_path)
        self.parameters = {**self._defaults(), **DEFAULT_PARAMETERS, **(parameters or {})}
        self.region = region
        self.name = name
        self.physical: dict[str, dict[str, str]] = {}
        self.functions: dict[str, LocalFunction] = {}
        self._session = _session(region, *_endpoint())

    # -- resolution of intrinsic functions ---------------------------------------------------------
    def _defaults(self) -> dict[str, str]:
        return {
            name: str(spec["Default"])
            for name, spec in (self.template.get("Parameters") or {}).items()
            if "Default" in spec
        }

    def _pseudo(self, name: str) -> str:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":  # what an Fn::If branch may give: the property is left out
            return _NO_VALUE
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            spec = (self.template.get("Parameters") or {}).get(name) or {}
            if spec.get("Type") == "CommaDelimitedList":
                return [part.strip() for part in str(self.parameters[name]).split(",")]
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise UnsupportedTemplate(f"Ref to {name!r}, which is neither a parameter nor a provisioned resource")

    def _getatt(self, resource: str, attribute: str) -> str:
        try:
            return self.physical[resource][attribute]
        except KeyError as exc:
            raise UnsupportedTemplate(f"GetAtt {resource}.{attribute} is not available locally") from exc

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value if item != {"Ref": "AWS::NoValue"}]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(resource, attribute)
            if key == "Fn::Sub":
                template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                variables = {k: self.resolve(v) for k, v in variables.items()}

                def sub(match: re.Match[str]) -> str:
                    token = match.group(1)
                    if token in variables:
                        return str(variables[token])
                    if "." in token and not token.startswith("AWS::"):
                        return str(self._getatt(*token.split(".", 1)))
                    return str(self._ref(token))

                return re.sub(r"\$\{([^}!]+)\}", sub, template)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::FindInMap":
                mapping, top, second = (str(self.resolve(v)) for v in arg)
                return self.template["Mappings"][mapping][top][second]
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.resolve(items))
            if key == "Condition":
                return self.condition(arg)
        resolved = {k: self.resolve(v) for k, v in value.items() if v != {"Ref": "AWS::NoValue"}}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    # -- provisioning --------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        return _client(self._session, service)

    def resources(self, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (logical, spec)
            for logical, spec in self.template["Resources"].items()
            if spec["Type"] == resource_type
            and ("Condition" not in spec or self.condition(spec["Condition"]))
        ]

    def provision(self) -> Stack:
        for logical, spec in self.resources("AWS::KMS::Key"):
            self._create_key(logical, self.resolve(spec.get("Properties", {})))
        for logical, spec in self.resources("AWS::KMS::Alias"):
            props = self.resolve(spec["Properties"])
            self.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
            self.physical[logical] = {"Ref": props["AliasName"]}
        queues = self.resources("AWS::SQS::Queue")
        queues.sort(key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
        for logical, spec in queues:
            self._create_queue(logical, self.resolve(spec.get("Properties", {})))
        for logical, spec in self.resources("AWS::SNS::Topic"):
            props = self.resolve(spec.get("Properties", {}))
            attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if props.get("KmsMasterKeyId") else {}
            arn = self.client("sns").create_topic(Name=f"{self.name}-{logical}", Attributes=attributes)[
                "TopicArn"
            ]
            self.physical[logical] = {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}
        for logical, spec in self.resources("AWS::DynamoDB::Table"):
            self._create_table(logical, self.resolve(spec["Properties"]))
        for logical, spec in self.resources("AWS::S3::Bucket"):
            # Only what a local bucket honours (logging targets and the like are left to CloudFormation).
            kept = (
                "ObjectLockEnabled",
                "ObjectLockConfiguration",
                "VersioningConfiguration",
                "BucketEncryption",
            )
            props = {k: v for k, v in (spec.get("Properties") or {}).items() if k in kept}
            self._create_bucket(logical, self.resolve(props))
        self._create_staff_pools()
        for logical, spec in self.resources("AWS::Logs::LogGroup"):
            # A fixed LogGroupName (SNS's own delivery log groups) is kept; others get a generated name.
            name = self.resolve((spec.get("Properties") or {}).get("LogGroupName")) or (
                f"/clinictext/{self.name}/{logical}"
            )
            self.client("logs").create_log_group(logGroupName=name)
            arn = f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{name}:*"
            self.physical[logical] = {"Ref": name, "Arn": arn}
        for logical, _spec in self.resources("AWS::Serverless::Function"):
            arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.name}-{logical}"
            self.physical[logical] = {"Ref": f"{self.name}-{logical}", "Arn": arn}
        for logical, _spec in self.resources("AWS::IAM::Role"):
            arn = f"arn:aws:iam::{ACCOUNT}:role/{self.name}-{logical}"
            self.physical[logical] = {"Ref": f"{self.name}-{logical}", "Arn": arn}
        for logical, _spec in self.resources("AWS::Serverless::LayerVersion"):
            self.physical[logical] = {"Ref": f"arn:aws:lambda:{self.region}:{ACCOUNT}:layer:{logical}:1"}
        for logical, _spec in self.resources("AWS::Serverless::HttpApi"):
            self.physical[logical] = {"Ref": "local"}
        for logical, _spec in self.resources("AWS::Scheduler::Schedule"):
            self.physical[logical] = {"Ref": f"{self.name}-{logical}"}
        self._register_functions()
        self._create_branch_key()
        return self

    def _create_branch_key(self) -> None:
        """The PHI branch key (format 3), as `clinictext keys init` creates it after a deploy."""
        env = next(iter(self.functions.values())).environment if self.functions else {}
        if not env.get("PHI_KEYSTORE_TABLE"):
            return
        from shared.crypto import wiring as crypto_wiring

        crypto_wiring.create_branch_key(
            table=env["PHI_KEYSTORE_TABLE"],
            branch_key_id=env["PHI_BRANCH_KEY_ID"],
            key_arn=env["DATA_KEY_ARN"],
            ddb_client=self.client("dynamodb"),
            kms_client=self.client("kms"),
        )

    def _create_key(self, logical: str, props: dict[str, Any]) -> None:
        kms = self.client("kms")
        args: dict[str, Any] = {"Description": props.get("Description", logical)}
        if props.get("KeySpec"):
            args["KeySpec"] = props["KeySpec"]
        if props.get("KeyUsage"):
            args["KeyUsage"] = props["KeyUsage"]
        metadata = kms.create_key(**args)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        self.physical[logical] = {
            "Ref": metadata["KeyId"],
            "Arn": metadata["Arn"],
            "KeyId": metadata["KeyId"],
        }

    def _create_queue(self, logical: str, props: dict[str, Any]) -> None:
        attributes: dict[str, str] = {}
        for key in (
            "KmsMasterKeyId",
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "KmsDataKeyReusePeriodSeconds",
        ):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.name}-{logical}", Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.physical[logical] = {
            "Ref": url,
            "Arn": arn,
            "QueueName": f"{self.name}-{logical}",
            "QueueUrl": url,
        }

    def _create_table(self, logical: str, props: dict[str, Any]) -> None:
        name = f"{self.name}-{logical}"
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        sse = props.get("SSESpecification") or {}
        if sse.get("SSEEnabled"):
            args["SSESpecification"] = {
                "Enabled": True,
                "SSEType": sse.get("SSEType", "KMS"),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {}),
            }
        dynamodb = self.client("dynamodb")
        arn = dynamodb.create_table(**args)["TableDescription"]["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        if (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        self.physical[logical] = {"Ref": name, "Arn": arn, "StreamArn": f"{arn}/stream/local"}

    def _create_bucket(self, logical: str, props: dict[str, Any]) -> None:
        """A bucket with the template's versioning, encryption and Object Lock (moto enforces the lock's
        retention on deletes of a locked version)."""
        name = f"{self.name}-{logical}".lower()[:63]
        s3 = self.client("s3")
        args: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        if props.get("ObjectLockEnabled"):
            args["ObjectLockEnabledForBucket"] = True
        s3.create_bucket(**args)
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        lock = props.get("ObjectLockConfiguration")
        if lock:
            retention = dict(lock["Rule"]["DefaultRetention"])
            retention = {k: int(v) if k in ("Days", "Years") else v for k, v in retention.items()}
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": lock.get("ObjectLockEnabled", "Enabled"),
                    "Rule": {"DefaultRetention": retention},
                },
            )
        encryption = props.get("BucketEncryption")
        if encryption:
            # CloudFormation's names differ from the S3 API's (ApplyServerSideEncryptionByDefault).
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        self.physical[logical] = {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    def _create_staff_pools(self) -> None:
        """Cognito user pools, their app clients and groups, as the template declares them (moto's
        cognito-idp issues RS256 tokens and serves each pool's JWKS)."""
        idp = self.client("cognito-idp")
        for logical, spec in self.resources("AWS::Cognito::UserPool"):
            props = self.resolve(spec.get("Properties") or {})
            args: dict[str, Any] = {"PoolName": props.get("UserPoolName") or f"{self.name}-{logical}"}
            for key in ("AdminCreateUserConfig", "UsernameConfiguration", "Policies", "MfaConfiguration"):
                if key in props:
                    args[key] = props[key]
            if "AccountRecoverySetting" in props:
                args["AccountRecoverySetting"] = props["AccountRecoverySetting"]
            pool = idp.create_user_pool(**args)["UserPool"]
            if props.get("MfaConfiguration", "OFF") != "OFF":
                idp.set_user_pool_mfa_config(
                    UserPoolId=pool["Id"],
                    SoftwareTokenMfaConfiguration={"Enabled": "SOFTWARE_TOKEN_MFA" in props["EnabledMfas"]},
                    MfaConfiguration=props["MfaConfiguration"],
                )
            provider = f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}"
            self.physical[logical] = {
                "Ref": pool["Id"],
                "Arn": pool["Arn"],
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
                "UserPoolId": pool["Id"],
            }
        for logical, spec in self.resources("AWS::Cognito::UserPoolClient"):
            props = self.resolve(spec["Properties"])
            args = {
                "UserPoolId": props["UserPoolId"],
                "ClientName": props.get("ClientName") or logical,
                "GenerateSecret": bool(props.get("GenerateSecret", False)),
            }
            for key in (
                "ExplicitAuthFlows",
                "PreventUserExistenceErrors",
                "EnableTokenRevocation",
                "AccessTokenValidity",
                "IdTokenValidity",
                "RefreshTokenValidity",
                "TokenValidityUnits",
            ):
                if key in props:
                    args[key] = props[key]
            client = idp.create_user_pool_client(**args)["UserPoolClient"]
            self.physical[logical] = {"Ref": client["ClientId"], "ClientId": client["ClientId"]}
        for logical, spec in self.resources("AWS::Cognito::UserPoolGroup"):
            props = self.resolve(spec["Properties"])
            args = {"UserPoolId": props["UserPoolId"], "GroupName": props["GroupName"]}
            for key in ("Description", "Precedence"):
                if key in props:
                    args[key] = props[key]
            idp.create_group(**args)
            self.physical[logical] = {"Ref": props["GroupName"]}

    def _register_functions(self) -> None:
        globals_fn = (self.template.get("Globals") or {}).get("Function") or {}
        global_env = self.resolve(((globals_fn.get("Environment") or {}).get("Variables")) or {})
        for logical, spec in self.resources("AWS::Serverless::Function"):
            props = spec["Properties"]
            env = {
                **{k: str(v) for k, v in global_env.items()},
                **{
                    k: str(v)
                    for k, v in self.resolve(
                        ((props.get("Environment") or {}).get("Variables")) or {}
                    ).items()
                },
            }
            self.functions[logical] = LocalFunction(
                logical_id=logical,
                handler=props.get("Handler") or globals_fn["Handler"],
                environment=env,
                events=props.get("Events") or {},
                timeout=int(props.get("Timeout") or globals_fn.get("Timeout", 3)),
                memory=int(props.get("MemorySize") or globals_fn.get("MemorySize", 128)),
            )

    # -- lookups used by the sandbox and the tests ----------------------------------------------------
    def ref(self, logical: str) -> str:
        return self.physical[logical]["Ref"]

    def arn(self, logical: str) -> str:
        return self.physical[logical]["Arn"]

    def table(self, logical: str) -> Any:
        return _resource(self._session, "dynamodb").Table(self.ref(logical))

    def http_authorizers(self) -> dict[str, dict[str, Any]]:
        """The HTTP API's named authorizers (``Auth.Authorizers``), resolved: ``{"StaffJwt": {...}}``."""
        found: dict[str, dict[str, Any]] = {}
        for _logical, spec in self.resources("AWS::Serverless::HttpApi"):
            auth = (spec.get("Properties") or {}).get("Auth") or {}
            for name, config in (auth.get("Authorizers") or {}).items():
                found[name] = self.resolve(config)
        return found

    def table_logical_ids(self) -> list[str]:
        return [logical for logical, _ in self.resources("AWS::DynamoDB::Table")]

    def function_for_topic(self, topic_logical: str) -> list[LocalFunction]:
        found = []
        for function in self.functions.values():
            for event in function.events.values():
                if event.get("Type") == "SNS" and event["Properties"]["Topic"] == {"Ref": topic_logical}:
                    found.append(function)
        return found

    def function_for_queue(self, queue_logical: str) -> list[tuple[LocalFunction, dict[str, Any]]]:
        found = []
        for function in self.functions.values():
            for event in function.events.values():
                if event.get("Type") == "SQS" and event["Properties"]["Queue"] == {
                    "Fn::GetAtt": [queue_logical, "Arn"]
                }:
                    found.append((function, event["Properties"]))
        return found

    def function_for_log_group(self, log_group_logical: str) -> list[LocalFunction]:
        """Functions a CloudWatch Logs subscription filter (SAM ``CloudWatchLogs`` event) feeds."""
        return [
            function
            for function in self.functions.values()
            for event in function.events.values()
            if event.get("Type") == "CloudWatchLogs"
            and event["Properties"]["LogGroupName"] == {"Ref": log_group_logical}
        ]

    def schedules(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (logical, self.resolve(spec["Properties"]))
            for logical, spec in self.resources("AWS::Scheduler::Schedule")
        ]

    def schedule_target(self, schedule_logical: str) -> LocalFunction:
        target = self.template["Resources"][schedule_logical]["Properties"]["Target"]["Arn"]
        logical = (
            target["Fn::GetAtt"][0]
            if isinstance(target["Fn::GetAtt"], list)
            else target["Fn::GetAtt"].split(".")[0]
        )
        return self.functions[logical]
