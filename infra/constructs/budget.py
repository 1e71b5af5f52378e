"""A monthly AWS Budgets cost budget for this deployment, alerting the alarm topic (and the alarm email)
when actual spend passes the alert threshold and when the forecast passes the whole budget.

The budget counts costs tagged ``application=mailroom`` and ``environment=<env>``: activate those two
cost allocation tags once in the Billing console (Cost allocation tags), or the budget sees nothing.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import MailroomConfig


class CostBudget(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MailroomConfig, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BudgetsPublish",
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:budgets::{Aws.ACCOUNT_ID}:*"},
                },
            )
        )
        subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic.topic_arn)]
        if config.alarm_email:
            subscribers.append(
                budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=config.alarm_email)
            )
        tags = config.tags()
        self.budget = budgets.CfnBudget(
            self,
            "Monthly",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{config.prefix}-monthly",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=config.monthly_budget_usd, unit="USD"),
                filter_expression=budgets.CfnBudget.ExpressionProperty(
                    and_=[
                        budgets.CfnBudget.ExpressionProperty(
                            tags=budgets.CfnBudget.TagValuesProperty(
                                key=key, values=[tags[key]], match_options=["EQUALS"]
                            )
                        )
                        for key in ("application", "environment")
                    ]
                ),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type="ACTUAL",
                        comparison_operator="GREATER_THAN",
                        threshold=config.budget_alert_percent,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=subscribers,
                ),
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type="FORECASTED",
                        comparison_operator="GREATER_THAN",
                        threshold=100,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=subscribers,
                ),
            ],
        )
