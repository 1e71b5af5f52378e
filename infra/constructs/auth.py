"""Sign-in: a Cognito user pool (no self sign-up, email sign-in, strong passwords, MFA), its hosted UI
domain, one public app client (authorization code flow; the app sends a PKCE challenge, no client
secret), the groups admin, agent and finance, and the app's session secret in Secrets Manager.

Who may do what is still the app's directory (``DIR#USER`` items, see ``mailroom/auth``): a Cognito
account without a directory entry signs in and is refused. The groups mirror the roles for
operators and for a later authorizer.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import MailroomConfig
from infra.constructs.common import acknowledge

GROUPS = {
    "admin": "Administrators: everything, in every mailbox",
    "agent": "Agents: the mailboxes they were given access to",
    "finance": "Finance: reports and costs, never message bodies",
}
CALLBACK_PATH = "/auth/callback"
SIGNOUT_PATH = "/signin"


class SignIn(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: MailroomConfig, base_url: str) -> None:
        super().__init__(scope, construct_id)
        production = config.production
        threat = config.cognito_threat_protection
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"{config.prefix}-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED if config.mfa == "required" else cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="Your Mailroom account",
                email_body="Sign in to Mailroom as {username} with the temporary password {####}",
            ),
            feature_plan=cognito.FeaturePlan.PLUS if threat else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if threat else None
            ),
            deletion_protection=production,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
        )
        if config.mfa != "required":
            acknowledge(
                self.user_pool,
                "AwsSolutions-COG2",
                f"MFA is optional in {config.environment} (config 'mfa'); production's config requires it.",
            )
        if not threat:
            why = (
                "Threat protection needs Cognito's Plus plan, billed per monthly active user; enabled by "
                "config 'cognito_threat_protection' (production's config turns it on)."
            )
            acknowledge(self.user_pool, "AwsSolutions-COG3", why)
            acknowledge(self.user_pool, "AwsSolutions-COG8", why)
        prefix = config.cognito_domain_prefix or f"{config.prefix}-{Aws.ACCOUNT_ID}"
        self.domain = self.user_pool.add_domain(
            "HostedUi", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )
        self.callback_url = f"{base_url}{CALLBACK_PATH}"
        self.client = self.user_pool.add_client(
            "Web",
            user_pool_client_name=f"{config.prefix}-web",
            generate_secret=False,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(
                    authorization_code_grant=True, implicit_code_grant=False, client_credentials=False
                ),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[self.callback_url],
                logout_urls=[f"{base_url}{SIGNOUT_PATH}"],
            ),
            # Only the hosted UI signs people in: no username/password flows on the client itself.
            auth_flows=cognito.AuthFlow(
                user_srp=False, user_password=False, admin_user_password=False, custom=False
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            # The app keeps its own session after the callback; Cognito's tokens are used once.
            id_token_validity=Duration.minutes(60),
            access_token_validity=Duration.minutes(60),
            refresh_token_validity=Duration.minutes(60),
        )
        for name, description in GROUPS.items():
            cognito.CfnUserPoolGroup(
                self,
                f"{name.capitalize()}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=name,
                description=description,
            )

        self.session_secret = secretsmanager.Secret(
            self,
            "SessionSecret",
            description="Mailroom: signs session and CSRF tokens (MAILROOM_SESSION_SECRET)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.session_secret,
            "AwsSolutions-SMG4",
            "A new session secret signs everyone out and the functions read it once per container; "
            "rotate by hand (put-secret-value, then update the function) when needed.",
        )

    @property
    def hosted_ui_url(self) -> str:
        """``MAILROOM_COGNITO_DOMAIN``: https://<prefix>.auth.<region>.amazoncognito.com"""
        return self.domain.base_url()

    @property
    def stack(self) -> Stack:
        return Stack.of(self)
