"""Outbound mail: the SES domain identity (Easy DKIM) and the configuration set every send names.

Bounces, complaints, rejects and delivery delays go to the account's default EventBridge bus (an
event destination of the configuration set), and the account's reputation metrics feed the alarms
in ``observability.py``. With a hosted zone, CDK writes the DKIM and MAIL FROM records; without one,
the stack outputs the three DKIM CNAME records to create by hand.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.config import MailroomConfig

FEEDBACK_EVENTS = (
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.DELIVERY_DELAY,
)
# SESv2 SendEmail with raw content is authorized as ses:SendRawEmail; ses:SendEmail covers the
# simple and templated forms. Both are checked against the identity and the configuration set.
SEND_ACTIONS = ("ses:SendEmail", "ses:SendRawEmail")


class MailSending(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MailroomConfig, zone: route53.IHostedZone | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain = config.domain
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            configuration_set_name=config.prefix,
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            # Opportunistic TLS to the recipient's server: requiring it would bounce replies to the
            # (few) customers whose mail servers lack TLS.
            tls_policy=ses.ConfigurationSetTlsPolicy.OPTIONAL,
        )
        self.configuration_set.add_event_destination(
            "Feedback",
            configuration_set_event_destination_name="feedback-to-eventbridge",
            destination=ses.EventDestination.event_bus(
                events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
            ),
            events=list(FEEDBACK_EVENTS),
        )
        identity = (
            ses.Identity.public_hosted_zone(zone) if zone is not None else ses.Identity.domain(self.domain)
        )
        mail_from = f"{config.mail_from_subdomain}.{self.domain}" if config.mail_from_subdomain else None
        self.identity = ses.EmailIdentity(
            self,
            "Domain",
            identity=identity,
            configuration_set=self.configuration_set,
            dkim_identity=ses.DkimIdentity.easy_dkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
            dkim_signing=True,
            feedback_forwarding=True,
            mail_from_domain=mail_from,
            # Until the MAIL FROM records exist, send with amazonses.com as MAIL FROM, don't reject.
            mail_from_behavior_on_mx_failure=ses.MailFromBehaviorOnMxFailure.USE_DEFAULT_VALUE,
        )
        if zone is None:
            for n, (name, value) in enumerate(
                (
                    (self.identity.dkim_dns_token_name1, self.identity.dkim_dns_token_value1),
                    (self.identity.dkim_dns_token_name2, self.identity.dkim_dns_token_value2),
                    (self.identity.dkim_dns_token_name3, self.identity.dkim_dns_token_value3),
                ),
                start=1,
            ):
                CfnOutput(self, f"DkimRecord{n}", value=f"{name} CNAME {value}", description="DKIM record")

    @property
    def identity_arn(self) -> str:
        return Stack.of(self).format_arn(service="ses", resource="identity", resource_name=self.domain)

    @property
    def configuration_set_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
        )

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """Send as the domain, through this configuration set: nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(SEND_ACTIONS),
            resource_arns=[self.identity_arn, self.configuration_set_arn],
        )

    @property
    def outbound_url(self) -> str:
        """``MAILROOM_OUTBOUND_URL``: SESv2 in the function's own region."""
        return "ses:"
