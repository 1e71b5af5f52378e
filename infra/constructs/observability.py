"""Alarms, their SNS topic (encrypted with a customer-managed key that CloudWatch and Budgets may use),
an optional email subscriber, and a CloudWatch dashboard.

Alarms, each to the topic, missing data = OK:

* every function: Errors >= 1 and Throttles >= 1 in 5 minutes;
* each dead-letter queue (stream mappings, failed async ingests): a visible message;
* each stream consumer: IteratorAge above its tolerance (routing 1 minute, metrics 10 minutes);
* the HTTP API: 5xx answers at or above the configured threshold in 5 minutes;
* SES reputation: bounce rate above 5 % and complaint rate above 0.1 % (SES reviews the account at
  10 % and 0.5 %, and may pause sending).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import MailroomConfig

FIVE_MINUTES = Duration.minutes(5)
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
ITERATOR_AGE_LIMIT_MS = {"route": 60_000, "metrics": 600_000}
SES_BOUNCE_RATE_LIMIT = 0.05
SES_COMPLAINT_RATE_LIMIT = 0.001


def _metric(
    namespace: str,
    name: str,
    *,
    statistic: str = "Sum",
    period: Duration = FIVE_MINUTES,
    dimensions: Mapping[str, str] | None = None,
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace, metric_name=name, statistic=statistic, period=period, dimensions_map=dimensions
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MailroomConfig,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        stream_consumers: list[str],
        http_api: apigw.HttpApi,
        table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = kms.Key(
            self,
            "AlarmKey",
            description=f"Mailroom {config.environment}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY,
        )
        for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Publish from {service.split('.')[0]}",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
        self.topic = sns.Topic(
            self,
            "Alarms",
            topic_name=f"{config.prefix}-alarms",
            display_name=f"Mailroom {config.environment} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for key, function in functions.items():
            self._alarm(
                f"{key}-errors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"The {key} function failed (see its log group)",
            )
            self._alarm(
                f"{key}-throttles",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"The {key} function was throttled",
            )
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}-dead-letters",
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                threshold=1,
                description=f"Something gave up and left a message in the {name} dead-letter queue",
            )
        for key in stream_consumers:
            self._alarm(
                f"{key}-iterator-age",
                functions[key].metric(
                    "IteratorAge",
                    period=Duration.minutes(1),
                    statistic="Maximum",
                    unit=cloudwatch.Unit.MILLISECONDS,
                ),
                threshold=ITERATOR_AGE_LIMIT_MS[key],
                evaluation_periods=5,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"The {key} function falls behind the table's stream",
            )
        self._alarm(
            "api-5xx",
            http_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            threshold=config.api_5xx_alarm_threshold,
            description="The web UI / API answered with server errors",
        )
        self._alarm(
            "ses-bounce-rate",
            _metric("AWS/SES", "Reputation.BounceRate", statistic="Maximum", period=Duration.hours(1)),
            threshold=SES_BOUNCE_RATE_LIMIT,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description="SES bounce rate above 5 % (SES reviews the account at 10 %)",
        )
        self._alarm(
            "ses-complaint-rate",
            _metric("AWS/SES", "Reputation.ComplaintRate", statistic="Maximum", period=Duration.hours(1)),
            threshold=SES_COMPLAINT_RATE_LIMIT,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description="SES complaint rate above 0.1 % (SES reviews the account at 0.5 %)",
        )
        self.dashboard = self._dashboard(functions, dead_letter_queues, stream_consumers, http_api, table)

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = AT_LEAST,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.capitalize() for part in name.split("-")),
            alarm_name=f"{self.config.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm

    def _dashboard(
        self,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        stream_consumers: list[str],
        http_api: apigw.HttpApi,
        table: dynamodb.ITable,
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{self.config.prefix}", default_interval=Duration.hours(24)
        )

        def per_function(title: str, metric: str, statistic: str) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                width=8,
                left=[
                    f.metric(metric, statistic=statistic, label=key, period=FIVE_MINUTES)
                    for key, f in functions.items()
                ],
            )

        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Mail",
                width=8,
                left=[
                    _metric("Mailroom", "MessagesStored", dimensions={"service": "ingest"}),
                    _metric("Mailroom", "DuplicatesIgnored", dimensions={"service": "ingest"}),
                    _metric("Mailroom", "ConversationsAssigned", dimensions={"service": "route"}),
                ],
            ),
            per_function("Invocations", "Invocations", "Sum"),
            per_function("Errors", "Errors", "Sum"),
        )
        dashboard.add_widgets(
            per_function("Duration p99 (ms)", "Duration", "p99"),
            per_function("Throttles", "Throttles", "Sum"),
            cloudwatch.GraphWidget(
                title="Stream iterator age (ms)",
                width=8,
                left=[
                    functions[k].metric("IteratorAge", statistic="Maximum", label=k) for k in stream_consumers
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="HTTP API",
                width=8,
                left=[
                    http_api.metric_count(period=FIVE_MINUTES, label="requests"),
                    http_api.metric_client_error(period=FIVE_MINUTES, label="4xx"),
                    http_api.metric_server_error(period=FIVE_MINUTES, label="5xx"),
                ],
                right=[http_api.metric_latency(period=FIVE_MINUTES, statistic="p95", label="latency p95")],
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB capacity",
                width=8,
                left=[
                    table.metric_consumed_read_capacity_units(period=FIVE_MINUTES, label="RCU"),
                    table.metric_consumed_write_capacity_units(period=FIVE_MINUTES, label="WCU"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Dead letters",
                width=8,
                left=[
                    q.metric_approximate_number_of_messages_visible(label=name)
                    for name, q in dead_letter_queues.items()
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", width=24, alarms=list(self.alarms.values()))
        )
        return dashboard
