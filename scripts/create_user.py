#!/usr/bin/env python3
"""Create a person on a deployed Mailroom stack: the Cognito user (invited by email), its group, and
the directory entry (``DIR#USER``) that the app authorizes from. Without the directory entry, a
Cognito sign-in succeeds and the app still refuses the person.

    .venv/bin/python scripts/create_user.py --stack Mailroom-prod --email ada@example.com \\
        --name "Ada Admin" --role admin

Needs AWS credentials for the stack's account and region (``AWS_PROFILE`` / ``AWS_REGION`` as usual).
The stack's outputs name the user pool and the table. Running it again for the same person updates
their name and role and leaves Cognito as it is.
"""

from __future__ import annotations

import argparse
from typing import Any

import boto3

from mailroom.auth.model import Role
from mailroom.inbox.directory import upsert_user
from mailroom.settings import Settings
from mailroom.table.client import table_from_settings


def stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    cloudformation = boto3.client("cloudformation", region_name=region)
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def ensure_cognito_user(cognito: Any, pool_id: str, email: str, name: str, role: str) -> None:
    try:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": name},
            ],
            DesiredDeliveryMediums=["EMAIL"],
        )
        print(f"invited {email}: Cognito emails a temporary password")
    except cognito.exceptions.UsernameExistsException:
        print(f"{email} already exists in the user pool")
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=role)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="Mailroom-dev or Mailroom-prod")
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    parser.add_argument("--region", default=None, help="default: the AWS SDK's (AWS_REGION, profile)")
    args = parser.parse_args(argv)
    email = args.email.strip().lower()

    outputs = stack_outputs(args.stack, args.region)
    region = args.region or boto3.session.Session().region_name
    ensure_cognito_user(
        boto3.client("cognito-idp", region_name=region), outputs["UserPoolId"], email, args.name, args.role
    )
    table = table_from_settings(Settings(table_name=outputs["TableName"], region=region or "us-east-1"))
    upsert_user(table, email, name=args.name, role=args.role)
    print(f"{email} is a Mailroom {args.role}; sign in at {outputs['WebUrl']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
