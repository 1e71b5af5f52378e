"""Where people sign in from: the sign-in provider's side of inviting, re-roling and deactivating.

The directory (``DIR#USER``) is always the authority on who may do what; the provider only lets a
person prove who they are. Selected by ``MAILROOM_AUTH_MODE``:

* ``local`` (the sandbox): the directory *is* the user store, so there is nothing to do;
* ``cognito`` (AWS): an invitation creates the Cognito user with a temporary password that Cognito
  emails (``AdminCreateUser``), adds them to the group named after their role (the groups mirror
  the roles for the console), and deactivation disables the Cognito user too.

The reply function needs ``cognito-idp:AdminCreateUser``, ``AdminAddUserToGroup``,
``AdminRemoveUserFromGroup``, ``AdminDisableUser`` and ``AdminEnableUser`` on the pool.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

from mailroom.settings import Settings, get_settings


class ProvisioningError(RuntimeError):
    """The sign-in provider refused (the message says why)."""


class AlreadyInvitedError(ProvisioningError):
    """The provider already has a user with this address."""


class Provisioner(Protocol):
    def invite(self, email: str, *, name: str, role: str) -> None: ...

    def change_role(self, email: str, *, old_role: str | None, role: str) -> None: ...

    def set_enabled(self, email: str, enabled: bool) -> None: ...


class LocalProvisioner:
    """The sandbox: people are created directly in the directory; nothing else knows them."""

    def invite(self, email: str, *, name: str, role: str) -> None:
        return None

    def change_role(self, email: str, *, old_role: str | None, role: str) -> None:
        return None

    def set_enabled(self, email: str, enabled: bool) -> None:
        return None


class CognitoProvisioner:
    def __init__(self, client: Any, user_pool_id: str) -> None:
        self.client = client
        self.pool = user_pool_id

    def invite(self, email: str, *, name: str, role: str) -> None:
        try:
            self.client.admin_create_user(
                UserPoolId=self.pool,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    # We vouch for the address: sign-in requires email_verified (auth/cognito.py).
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": name},
                ],
                DesiredDeliveryMediums=["EMAIL"],  # Cognito mails the temporary password
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "UsernameExistsException":
                raise AlreadyInvitedError(f"{email} already has a sign-in") from exc
            raise ProvisioningError(_message(exc)) from exc
        self._add_to_group(email, role)

    def change_role(self, email: str, *, old_role: str | None, role: str) -> None:
        if old_role == role:
            return
        if old_role:
            try:
                self.client.admin_remove_user_from_group(
                    UserPoolId=self.pool, Username=email, GroupName=old_role
                )
            except ClientError as exc:
                raise ProvisioningError(_message(exc)) from exc
        self._add_to_group(email, role)

    def set_enabled(self, email: str, enabled: bool) -> None:
        call = self.client.admin_enable_user if enabled else self.client.admin_disable_user
        try:
            call(UserPoolId=self.pool, Username=email)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
                return  # a directory-only user (e.g. created before Cognito): nothing to disable
            raise ProvisioningError(_message(exc)) from exc

    def _add_to_group(self, email: str, role: str) -> None:
        try:
            self.client.admin_add_user_to_group(UserPoolId=self.pool, Username=email, GroupName=role)
        except ClientError as exc:
            raise ProvisioningError(_message(exc)) from exc


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"the sign-in provider refused: {error.get('Code', 'error')}: {error.get('Message', '')}".strip()


def provisioner_from_settings(settings: Settings | None = None) -> Provisioner:
    settings = settings or get_settings()
    if settings.auth_mode == "local":
        return LocalProvisioner()
    if not settings.cognito_user_pool_id:
        raise ProvisioningError("MAILROOM_COGNITO_USER_POOL_ID is not set: cannot invite people")
    import boto3

    return CognitoProvisioner(
        boto3.client("cognito-idp", region_name=settings.region), settings.cognito_user_pool_id
    )
