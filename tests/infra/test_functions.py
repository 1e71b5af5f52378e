"""The four functions as ``mailroom/deployment.py`` defines them, their stream mappings, the sweep."""

from __future__ import annotations

import json

import pytest

from infra.bundling import powertools_version
from infra.constructs.schedule import SWEEP_EVENT
from infra.constructs.storage import RAW_INBOUND_PREFIX
from mailroom import deployment
from mailroom.settings import Settings
from mailroom.table import schema
from tests.infra.synth import Synthesized


@pytest.mark.parametrize("spec", deployment.FUNCTIONS, ids=lambda s: s.key)
def test_function_matches_its_spec(synthesized: Synthesized, spec: deployment.FunctionSpec) -> None:
    props = synthesized.function(spec.key)["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_s
    assert props["Handler"] == spec.handler.replace(":", ".")
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == spec.key
    assert props["Environment"]["Variables"]["MAILROOM_REGION"] == {"Ref": "AWS::Region"}


def test_every_function_has_a_log_group_with_retention(synthesized: Synthesized) -> None:
    groups = synthesized.of_type("AWS::Logs::LogGroup")
    for spec in deployment.FUNCTIONS:
        props = synthesized.function(spec.key)["Properties"]
        group = groups[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert group["LogGroupName"] == f"/aws/lambda/{props['FunctionName']}"
        assert group["RetentionInDays"] == synthesized.config.log_retention_days
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


def test_all_functions_share_one_code_asset_and_the_powertools_layer(synthesized: Synthesized) -> None:
    keys = {synthesized.function(spec.key)["Properties"]["Code"]["S3Key"] for spec in deployment.FUNCTIONS}
    assert len(keys) == 1
    layers = [synthesized.function(spec.key)["Properties"]["Layers"] for spec in deployment.FUNCTIONS]
    assert all(layer == layers[0] and len(layer) == 1 for layer in layers)
    parameter = synthesized.data["Parameters"][layers[0][0]["Ref"]]
    # The layer is the Powertools release that requirements.lock pins (the one the tests ran).
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == f"/aws/service/powertools/python/arm64/python3.12/{powertools_version()}"


def test_environment_matches_settings(synthesized: Synthesized) -> None:
    fields = {f"MAILROOM_{name.upper()}" for name in Settings.model_fields}
    for spec in deployment.FUNCTIONS:
        variables = synthesized.function(spec.key)["Properties"]["Environment"]["Variables"]
        unknown = {v for v in variables if v.startswith("MAILROOM_")} - fields
        assert unknown == set(), spec.key  # every variable is one the handlers read
    ingest = synthesized.function("ingest")["Properties"]["Environment"]["Variables"]
    assert (
        ingest["MAILROOM_RAW_INBOUND_PREFIX"]
        == RAW_INBOUND_PREFIX
        == Settings.model_fields["raw_inbound_prefix"].default
    )
    bucket = synthesized.logical_id("AWS::S3::Bucket", "RawMail")
    assert ingest["MAILROOM_RAW_STORE_URL"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket}]]}
    reply = synthesized.function("reply")["Properties"]["Environment"]["Variables"]
    assert reply["MAILROOM_AUTH_MODE"] == "cognito"
    assert reply["MAILROOM_OUTBOUND_URL"] == "ses:"
    redirect = reply["MAILROOM_COGNITO_REDIRECT_URI"]
    assert (redirect if isinstance(redirect, str) else redirect["Fn::Join"][1][-1]).endswith("/auth/callback")
    # The session secret travels by reference, never as a value.
    assert "MAILROOM_SESSION_SECRET" not in reply
    secret = synthesized.logical_id("AWS::SecretsManager::Secret", "SessionSecret")
    assert reply["MAILROOM_SESSION_SECRET_ARN"] == {"Ref": secret}
    route = synthesized.function("route")["Properties"]["Environment"]["Variables"]
    assert route["MAILROOM_SES_CONFIGURATION_SET"] == reply["MAILROOM_SES_CONFIGURATION_SET"]
    metrics = synthesized.function("metrics")["Properties"]["Environment"]["Variables"]
    assert metrics["MAILROOM_TABLE_NAME"] == reply["MAILROOM_TABLE_NAME"]  # it keeps the rollups
    # The directory's hot readers reuse a listing briefly; the sandbox's default reads it every time.
    cache = f"{synthesized.config.directory_cache_seconds:g}"
    assert ingest["MAILROOM_DIRECTORY_CACHE_SECONDS"] == cache == "5"
    assert reply["MAILROOM_DIRECTORY_CACHE_SECONDS"] == cache
    assert route["MAILROOM_DIRECTORY_CACHE_SECONDS"] == cache
    assert "MAILROOM_DIRECTORY_CACHE_SECONDS" not in metrics
    assert Settings.model_fields["directory_cache_seconds"].default == 0


def test_reserved_concurrency_only_on_ingest_when_configured(dev: Synthesized, prod: Synthesized) -> None:
    assert prod.function("ingest")["Properties"]["ReservedConcurrentExecutions"] == 10
    assert "ReservedConcurrentExecutions" not in dev.function("ingest")["Properties"]
    for key in ("route", "metrics", "reply"):
        assert "ReservedConcurrentExecutions" not in prod.function(key)["Properties"]


def test_failed_async_ingests_go_to_an_encrypted_queue(synthesized: Synthesized) -> None:
    config = synthesized.one("AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["FunctionName"] == {"Ref": synthesized.function_id("ingest")}
    assert config["MaximumRetryAttempts"] == 2
    queue_id = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synthesized.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("spec", deployment.STREAM_FUNCTIONS, ids=lambda s: s.key)
def test_stream_mapping(synthesized: Synthesized, spec: deployment.FunctionSpec) -> None:
    assert spec.stream is not None
    mappings = [
        m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": synthesized.function_id(spec.key)}
    ]
    assert len(mappings) == 1
    mapping = mappings[0]
    table = synthesized.logical_id("AWS::DynamoDB::GlobalTable", "Table")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table, "StreamArn"]}
    # The filter criteria are exactly the shared module's patterns, serialized the same way.
    assert mapping["FilterCriteria"] == schema.filter_criteria(spec.key)
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert tuple(patterns) == spec.stream.patterns == schema.STREAM_CONSUMERS[spec.key]
    assert mapping["BatchSize"] == spec.stream.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == spec.stream.batching_window_s
    assert mapping["MaximumRetryAttempts"] == spec.stream.max_retries
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 86_400
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    dlq = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synthesized.resources[dlq]["Type"] == "AWS::SQS::Queue"
    assert synthesized.resources[dlq]["Properties"]["SqsManagedSseEnabled"] is True


def test_route_and_metrics_filters_are_the_schema_constants(dev: Synthesized) -> None:
    by_function = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"]["FilterCriteria"]
        for m in dev.of_type("AWS::Lambda::EventSourceMapping").values()
    }
    route = [json.loads(f["Pattern"]) for f in by_function[dev.function_id("route")]["Filters"]]
    metrics = [json.loads(f["Pattern"]) for f in by_function[dev.function_id("metrics")]["Filters"]]
    assert tuple(route) == schema.ROUTE_FILTERS
    assert tuple(metrics) == schema.METRICS_FILTERS


def test_sweep_schedule_sends_the_event_the_route_handler_recognizes(synthesized: Synthesized) -> None:
    schedule = synthesized.one("AWS::Scheduler::Schedule")["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [synthesized.function_id("route"), "Arn"]}
    event = json.loads(target["Input"])
    assert event == SWEEP_EVENT
    assert event["detail-type"] == "Scheduled Event"  # functions/route/handler.py checks exactly this


def test_no_pip_during_tests(dev: Synthesized, prod: Synthesized) -> None:
    assert dev.bundle_calls == prod.bundle_calls == []
