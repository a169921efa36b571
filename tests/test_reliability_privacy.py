"""Privacy: by default nothing of the prompt, the output, the API key, request header values or provider
error messages leaves the process. Canary strings are planted in every one of those places, for every
provider, for plain, streamed, async and failing (4xx and 5xx) calls; then ALL exported data is searched:
span names, attributes, events, links, status descriptions, resources, every metric data point's attributes
and the metrics' resource and scope, and every log record of the `llm_drift_otel` logger (message,
arguments and traceback), at DEBUG level.

The same search finds the output text once content capture is turned on, and the JSON key names when
signatures keep plain keys: the check can fail. With `LLM_DRIFT_SIGNATURE_KEYS=hash` no key name appears.
"""

from __future__ import annotations

import logging

import pytest

from llm_drift_otel._log import reset_reported
from provider_drivers import DRIVERS, make, run_all

CANARIES = {
    "system prompt": "cnry-system-b6d1",
    "user prompt": "cnry-user-41f9",
    "output text": "cnry-output-text-9e02",
    "JSON value": "cnry-json-value-77c4",
    "tool argument value": "cnry-tool-arg-3a58",
    "API key": "cnry-apikey-d20e",
    "header value": "cnry-header-c9b7",
    "error message": "cnry-error-msg-5f61",
}
KEY_NAME = "cnryKeyName0a"  # a JSON key name (allowed in signatures unless LLM_DRIFT_SIGNATURE_KEYS=hash)
ARG_KEY_NAME = "cnryArgKey88"  # a tool argument's key name

OUTPUTS = {
    "prose": dict(text=f"Your parcel {CANARIES['output text']} left the depot. It arrives on Monday."),
    "json": dict(text='{"title": "%s", "%s": "%s", "actions": ["%s"]}' % (
        CANARIES["JSON value"], KEY_NAME, CANARIES["JSON value"], CANARIES["output text"])),
    "tool call": dict(tool=("lookup_order", {"order_id": CANARIES["tool argument value"],
                                             ARG_KEY_NAME: CANARIES["tool argument value"]})),
}


@pytest.fixture(scope="module")
def drivers():
    made = {}
    for name in DRIVERS:
        driver = make(name, api_key=CANARIES["API key"])
        driver.system = f"You are the support assistant ({CANARIES['system prompt']}). Answer in JSON."
        driver.user = f"Where is my order {CANARIES['user prompt']}?"
        driver.headers = {"X-Tenant-Note": CANARIES["header value"]}
        made[name] = driver
    yield made
    for driver in made.values():
        driver.close()


def exported(telemetry, caplog) -> str:
    """Everything the instrumentation exported, as one text to search."""
    parts = []
    for span in telemetry.spans.get_finished_spans():
        parts.append(span.to_json(indent=None))  # name, attributes, events, links, status, resource
    data = telemetry.reader.get_metrics_data()
    if data is not None:
        parts.append(data.to_json(indent=None))  # resource, scope, every point's attributes
    formatter = logging.Formatter()
    for record in caplog.records:
        if record.name.startswith("llm_drift_otel"):
            parts.append(record.getMessage())
            parts.append(repr(record.args))
            if record.exc_info:
                parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def exercise(driver, output: dict) -> list:
    driver.script.text = output.get("text")
    driver.script.tool = output.get("tool")
    driver.script.error_message = f"upstream refused prompt '{CANARIES['error message']}' for {driver.user}"
    try:
        results = []
        for status in (503, 400):
            driver.script.error_status = status
            results += run_all(driver, 1)
        return results
    finally:
        driver.script.text = driver.script.tool = driver.script.error_message = None
        driver.script.error_status = 503


def _found(text: str, needles) -> list[str]:
    low = text.lower()
    return [n for n in needles if n.lower() in low]


@pytest.mark.parametrize("name", list(DRIVERS))
def test_no_content_key_or_header_value_is_exported_by_default(name, drivers, instrument_with, caplog,
                                                                 monkeypatch):
    for var in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "LLM_DRIFT_SIGNATURE_KEYS"):
        monkeypatch.delenv(var, raising=False)
    driver = drivers[name]
    telemetry = instrument_with(warmup=2)
    reset_reported()
    caplog.set_level(logging.DEBUG)
    for kind, output in OUTPUTS.items():
        results = exercise(driver, output)
        # the planted content really went through the SDK: the app sees it
        assert CANARIES["error message"] in repr([r for r in results if r[0] == "raised"])
        planted = CANARIES["tool argument value"] if kind == "tool call" else CANARIES["output text"]
        assert planted in repr([r for r in results if r[0] != "raised"])
    text = exported(telemetry, caplog)
    spans = telemetry.llm_spans()
    # and the instrumentation read it: every kind of output was fingerprinted
    assert {"prose", "json", "tool_call"} <= {s.attributes.get("llm_drift.shape.kind") for s in spans}
    assert spans and all("gen_ai.operation.name" in s.attributes for s in spans)
    errors = [s.attributes["error.type"] for s in spans if "error.type" in s.attributes]
    assert len(errors) == 2 * len(OUTPUTS) and all(e.isidentifier() for e in errors)  # class names only
    assert _found(text, CANARIES.values()) == []
    # key names may appear in signatures by default (SPEC §1): the search does find them, so it can fail
    assert _found(text, [KEY_NAME]) == [KEY_NAME] or name == "cohere" and _found(text, [ARG_KEY_NAME])


@pytest.mark.parametrize("name", ["openai", "anthropic", "bedrock", "litellm"])
def test_hashed_signature_keys_leave_no_json_key_name(name, drivers, instrument_with, caplog, monkeypatch):
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    monkeypatch.setenv("LLM_DRIFT_SIGNATURE_KEYS", "hash")
    telemetry = instrument_with(warmup=2)
    caplog.set_level(logging.DEBUG)
    for output in OUTPUTS.values():
        exercise(drivers[name], output)
    text = exported(telemetry, caplog)
    assert _found(text, list(CANARIES.values()) + [KEY_NAME, ARG_KEY_NAME, "title", "actions", "order_id"]) == []
    signatures = [s.attributes["llm_drift.shape.signature"] for s in telemetry.llm_spans()
                  if "llm_drift.shape.signature" in s.attributes]
    assert signatures  # shapes are still there, with hashed keys


@pytest.mark.parametrize("name", ["openai", "anthropic", "google_genai", "mistral"])
def test_with_capture_on_the_output_does_appear(name, drivers, instrument_with, caplog, monkeypatch):
    """The control: the same search finds the output once the user opts in to content capture."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.delenv("LLM_DRIFT_SIGNATURE_KEYS", raising=False)
    telemetry = instrument_with(warmup=2)
    caplog.set_level(logging.DEBUG)
    exercise(drivers[name], OUTPUTS["prose"])
    text = exported(telemetry, caplog)
    assert CANARIES["output text"] in _found(text, CANARIES.values())
    # still never the key, the header values or the provider's error message
    assert _found(text, [CANARIES["API key"], CANARIES["header value"], CANARIES["error message"]]) == []


def test_a_failing_stage_logs_where_it_failed_but_not_the_exception_message(caplog):
    """Exception messages can quote the data (a JSON key of the answer, a provider error echoing the
    prompt): the one log line of a failing stage names the type and the frames only."""
    import logging

    from llm_drift_otel import _log

    _log.reset_reported()

    def parse_answer():
        raise KeyError("CANARY-7f3a in the model's JSON")

    try:
        parse_answer()
    except KeyError as exc:
        with caplog.at_level(logging.DEBUG, logger="llm_drift_otel"):
            _log.stage_failed("fingerprint", exc)
    records = [r for r in caplog.records if r.name == "llm_drift_otel"]
    assert len(records) == 1
    formatter = logging.Formatter()
    text = formatter.format(records[0])
    assert "CANARY-7f3a" not in text
    assert "fingerprint failed (KeyError)" in text
    assert "in parse_answer" in text
    _log.reset_reported()
