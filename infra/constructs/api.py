"""The HTTP API (API Gateway v2) in front of the reply function: one ``$default`` catch-all route
(payload format 2.0) to the agent UI and JSON API, a throttled ``$default`` stage with JSON access
logs, and an optional custom domain (ACM certificate; an alias record when the zone is ours).

Authentication happens in the app, not at the gateway: the UI signs people in through Cognito's
hosted UI and then uses its own session cookie, and ``/signin`` and ``/auth/callback`` must be
reachable signed out. A JWT authorizer could only guard the bearer-token API calls.
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.common import acknowledge, retention

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "userAgent": "$context.identity.userAgent",
}


class WebApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MailroomConfig,
        zone: route53.IHostedZone | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"{config.prefix}-web",
            description="Mailroom agent UI and JSON API",
            create_default_stage=False,
            # With a custom domain, the execute-api URL would bypass it (and the Cognito callback).
            disable_execute_api_endpoint=config.api_domain is not None,
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY,
        )
        self.domain_name: apigw.DomainName | None = None
        mapping: apigw.DomainMappingOptions | None = None
        if config.api_domain is not None:
            self.domain_name = apigw.DomainName(
                self,
                "DomainName",
                domain_name=config.api_domain.name,
                certificate=acm.Certificate.from_certificate_arn(
                    self, "Certificate", config.api_domain.certificate_arn
                ),
                security_policy=apigw.SecurityPolicy.TLS_1_2,
            )
            mapping = apigw.DomainMappingOptions(domain_name=self.domain_name)
            if zone is not None and (
                config.api_domain.name == zone.zone_name
                or config.api_domain.name.endswith("." + zone.zone_name)
            ):
                route53.ARecord(
                    self,
                    "Alias",
                    zone=zone,
                    record_name=f"{config.api_domain.name}.",
                    target=route53.RecordTarget.from_alias(
                        targets.ApiGatewayv2DomainProperties(
                            self.domain_name.regional_domain_name, self.domain_name.regional_hosted_zone_id
                        )
                    ),
                )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
            ),
            domain_mapping=mapping,
        )
        stage = self.stage.node.default_child
        assert isinstance(stage, apigw.CfnStage)
        stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )
        self.base_url = (
            f"https://{config.api_domain.name}" if config.api_domain else self.http_api.api_endpoint
        )

    def route_everything_to(self, function: lambda_.IFunction) -> None:
        """``$default``: every method and path goes to ``function`` (payload format 2.0)."""
        route = apigw.HttpRoute(
            self,
            "Default",
            http_api=self.http_api,
            route_key=apigw.HttpRouteKey.DEFAULT,
            integration=integrations.HttpLambdaIntegration(
                "Reply", function, payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0
            ),
        )
        acknowledge(
            route,
            "AwsSolutions-APIG4",
            "The app authenticates every request itself (Cognito ID tokens or its own session cookie "
            "after the hosted-UI sign-in) and must serve /signin and /auth/callback signed out.",
        )
