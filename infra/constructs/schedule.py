"""The sweep: EventBridge Scheduler invokes the route function every minute to wake snoozed
conversations and assign what waits in the team queues (``mailroom.routing.service.sweep_queues``).

The input has the shape of an EventBridge scheduled event, which is what ``functions/route/handler.py``
recognizes (``"detail-type": "Scheduled Event"``). A failed run is not retried: the next one comes a
minute later and does the same work.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.common import acknowledge

SWEEP_INTERVAL = Duration.minutes(1)
SWEEP_EVENT = {
    "version": "0",
    "detail-type": "Scheduled Event",
    "source": "mailroom.scheduler",
    "detail": {},
}


class Sweeps(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MailroomConfig, route: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        # Our own role, so that only this account's Scheduler can assume it; LambdaInvoke grants it
        # lambda:InvokeFunction on the function.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="Mailroom: lets EventBridge Scheduler start the sweep",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Sweep",
            schedule_name=f"{config.prefix}-sweep",
            description="Mailroom: wake snoozed conversations, assign queued ones",
            schedule=scheduler.ScheduleExpression.rate(SWEEP_INTERVAL),
            target=targets.LambdaInvoke(
                route,
                input=scheduler.ScheduleTargetInput.from_object(SWEEP_EVENT),
                retry_attempts=0,
                max_event_age=Duration.minutes(1),
                role=self.role,
            ),
        )
        function_resource = route.node.default_child
        assert isinstance(function_resource, CfnResource)
        logical_id = Stack.of(self).get_logical_id(function_resource)
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
            "LambdaInvoke grants the function and its qualified ARNs (<arn>:*, versions and aliases); "
            "the route function publishes none, so this is the route function alone.",
        )
