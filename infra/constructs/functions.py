"""The four Lambda functions of ``mailroom/deployment.py``: arm64, Python 3.12, Powertools layer, one
shared code asset, X-Ray tracing, a log group each with retention, and a role each that starts empty.

Memory and timeouts come from ``mailroom/deployment.py`` (the sandbox uses the same figures), where
each is justified: ingest 512 MB / 60 s (parsing up to 40 MB of MIME; memory buys CPU), route 256 MB /
30 s (one routing decision per record, batches of 10), metrics 256 MB / 60 s (batches of 100), reply
512 MB / 29 s (API Gateway's integration limit; page renders stay fast).

Each role gets only what the stack grants it (``grant_*`` calls in ``infra/stack.py``) plus writing to
its own log group and sending X-Ray segments; no managed policies.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.bundling import LAMBDA_ARCHITECTURE, LAMBDA_PYTHON_VERSION, LAMBDA_RUNTIME, lambda_code
from infra.bundling import powertools_version as locked_powertools_version
from infra.config import MailroomConfig
from infra.constructs.common import acknowledge, retention
from mailroom import deployment
from mailroom.deployment import FunctionSpec

POWERTOOLS_ACCOUNT = "017000801446"  # AWS's account that publishes the Powertools layers
_PY = LAMBDA_PYTHON_VERSION.replace(".", "")
POWERTOOLS_LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-python{_PY}-arm64"


def powertools_ssm_parameter(version: str) -> str:
    """The public SSM parameter whose value is the layer ARN of one Powertools release."""
    return f"/aws/service/powertools/python/arm64/python{LAMBDA_PYTHON_VERSION}/{version}"


def construct_id(spec: FunctionSpec) -> str:
    return spec.key.capitalize()


def handler_path(spec: FunctionSpec) -> str:
    """``functions.ingest.handler:handler`` as Lambda spells it: ``functions.ingest.handler.handler``."""
    module, _, function = spec.handler.partition(":")
    return f"{module}.{function}"


class MailroomFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        config: MailroomConfig,
        environments: Mapping[str, Mapping[str, str]],
        reserved_concurrency: Mapping[str, int | None],
    ) -> None:
        super().__init__(scope, construct_id_)
        self.config = config
        code = lambda_code()
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", self._powertools_arn()
        )
        removal = RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY
        self.functions: dict[str, lambda_.Function] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        for spec in deployment.FUNCTIONS:
            name = f"{spec.name}-{config.environment}"
            cid = construct_id(spec)
            log_group = logs.LogGroup(
                self,
                f"{cid}Logs",
                log_group_name=f"/aws/lambda/{name}",
                retention=retention(config.log_retention_days),
                removal_policy=removal,
            )
            role = iam.Role(
                self,
                f"{cid}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Mailroom {spec.key} ({config.environment}): only what this function needs",
            )
            log_group.grant_write(role)
            function = lambda_.Function(
                self,
                cid,
                function_name=name,
                description=f"Mailroom {spec.key} ({config.environment})",
                runtime=LAMBDA_RUNTIME,
                architecture=LAMBDA_ARCHITECTURE,
                handler=handler_path(spec),
                code=code,
                layers=[self.powertools],
                memory_size=spec.memory_mb,
                timeout=Duration.seconds(spec.timeout_s),
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                role=role,
                reserved_concurrent_executions=reserved_concurrency.get(spec.key),
                recursive_loop=lambda_.RecursiveLoop.TERMINATE,
                environment={
                    "POWERTOOLS_SERVICE_NAME": spec.key,
                    "POWERTOOLS_METRICS_NAMESPACE": "Mailroom",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                    "MAILROOM_REGION": Aws.REGION,
                    **environments.get(spec.key, {}),
                },
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords (tracing is on) support no resource-level "
                "permissions; they are the only actions on '*'.",
            )
            acknowledge(
                function,
                "AwsSolutions-L1",
                f"Python {LAMBDA_PYTHON_VERSION} on purpose: the bundle's wheels and the Powertools layer "
                f"are built for it (infra/bundling.py); a newer runtime is a one-line change there.",
            )
            self.functions[spec.key] = function
            self.log_groups[spec.key] = log_group

    def _powertools_arn(self) -> str:
        version = self.config.powertools_layer_version
        if version is not None:
            return Fn.sub(
                f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{POWERTOOLS_ACCOUNT}:layer:"
                f"{POWERTOOLS_LAYER_NAME}:{version}"
            )
        return ssm.StringParameter.value_for_string_parameter(
            self, powertools_ssm_parameter(locked_powertools_version())
        )

    def __getitem__(self, key: str) -> lambda_.Function:
        return self.functions[key]

    @property
    def stack(self) -> Stack:
        return Stack.of(self)
