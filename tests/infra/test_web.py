"""The HTTP API in front of the reply function, and Cognito sign-in."""

from __future__ import annotations

from tests.infra.synth import Synthesized


def test_default_route_to_reply_with_payload_v2(synthesized: Synthesized) -> None:
    route = synthesized.one("AWS::ApiGatewayV2::Route")["Properties"]
    assert route["RouteKey"] == "$default"
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synthesized.resources[integration_id]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [synthesized.function_id("reply"), "Arn"]}


def test_stage_is_throttled_and_logged(synthesized: Synthesized) -> None:
    stage = synthesized.one("AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": synthesized.config.api_throttle_burst,
        "ThrottlingRateLimit": synthesized.config.api_throttle_rate,
    }
    log_group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]


def test_custom_domain_in_prod_only(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.of_type("AWS::ApiGatewayV2::DomainName") == {}
    assert prod.config.api_domain is not None
    domain = prod.one("AWS::ApiGatewayV2::DomainName")["Properties"]
    assert domain["DomainName"] == prod.config.api_domain.name
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == prod.config.api_domain.certificate_arn
    assert domain["DomainNameConfigurations"][0]["SecurityPolicy"] == "TLS_1_2"
    assert prod.one("AWS::ApiGatewayV2::Api")["Properties"]["DisableExecuteApiEndpoint"] is True
    alias = [r for r in prod.of_type("AWS::Route53::RecordSet").values() if r["Properties"]["Type"] == "A"]
    assert [a["Properties"]["Name"] for a in alias] == [f"{prod.config.api_domain.name}."]
    client = prod.one("AWS::Cognito::UserPoolClient")["Properties"]
    assert client["CallbackURLs"] == [f"https://{prod.config.api_domain.name}/auth/callback"]


def test_user_pool(synthesized: Synthesized) -> None:
    pool = synthesized.one("AWS::Cognito::UserPool")["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    assert pool["UsernameAttributes"] == ["email"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    expected_mfa = "ON" if synthesized.config.mfa == "required" else "OPTIONAL"
    assert pool["MfaConfiguration"] == expected_mfa


def test_threat_protection_and_deletion_by_environment(dev: Synthesized, prod: Synthesized) -> None:
    prod_pool = prod.one("AWS::Cognito::UserPool")
    assert prod_pool["Properties"]["UserPoolTier"] == "PLUS"
    assert prod_pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert prod_pool["Properties"]["DeletionProtection"] == "ACTIVE"
    assert prod_pool["DeletionPolicy"] == "Retain"
    dev_pool = dev.one("AWS::Cognito::UserPool")
    assert dev_pool["Properties"]["UserPoolTier"] == "ESSENTIALS"
    assert dev_pool["DeletionPolicy"] == "Delete"


def test_app_client_uses_the_code_flow_without_a_secret(synthesized: Synthesized) -> None:
    client = synthesized.one("AWS::Cognito::UserPoolClient")["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit, no client credentials
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["GenerateSecret"] is False  # a public client: PKCE protects the code exchange
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    (callback,) = client["CallbackURLs"]
    redirect = synthesized.function("reply")["Properties"]["Environment"]["Variables"][
        "MAILROOM_COGNITO_REDIRECT_URI"
    ]
    assert callback == redirect


def test_groups(synthesized: Synthesized) -> None:
    groups = {
        g["Properties"]["GroupName"] for g in synthesized.of_type("AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"admin", "agent", "finance"}


def test_hosted_ui_domain(synthesized: Synthesized) -> None:
    domain = synthesized.one("AWS::Cognito::UserPoolDomain")["Properties"]
    parts = domain["Domain"]["Fn::Join"][1]
    assert parts == [f"mailroom-{synthesized.config.environment}-", {"Ref": "AWS::AccountId"}]


def test_session_secret_is_generated_not_written(synthesized: Synthesized) -> None:
    secret = synthesized.one("AWS::SecretsManager::Secret")["Properties"]
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
