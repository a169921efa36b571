"""Names of the telemetry contract (SPEC.md): attributes, metrics, alerts, env vars.

Everything that emits or queries telemetry takes its names from here, so a rename is one edit
and a test can check that configs and dashboards use only names that exist.
"""

from __future__ import annotations

# --- OpenTelemetry GenAI semantic conventions (standard attributes) ---
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_PROMPT_NAME = "gen_ai.prompt.name"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# --- this project's attributes (namespace llm_drift.) ---
SERVING_MODEL = "llm_drift.serving.model"
MODEL_SUBSTITUTED = "llm_drift.model.substituted"
PROMPT_VARIANT = "llm_drift.prompt.variant"
PROMPT_TUNED_FOR = "llm_drift.prompt.tuned_for"
PROMPT_MISMATCH = "llm_drift.prompt.mismatch"
FALLBACK_ACTIVE = "llm_drift.fallback.active"
FALLBACK_SOURCE = "llm_drift.fallback.source"
FALLBACK_PRIMARY = "llm_drift.fallback.primary"
FALLBACK_REASON = "llm_drift.fallback.reason"
FALLBACK_ATTEMPT = "llm_drift.fallback.attempt"
SHAPE_KIND = "llm_drift.shape.kind"
SHAPE_ID = "llm_drift.shape.id"
SHAPE_SIGNATURE = "llm_drift.shape.signature"
SHAPE_LENGTH_BUCKET = "llm_drift.shape.length_bucket"
SHAPE_REFUSAL = "llm_drift.shape.refusal"
SHAPE_CONTRACT_OK = "llm_drift.shape.contract_ok"
SHAPE_DRIFTED = "llm_drift.shape.drifted"
SHAPE_DRIFT_SCORE = "llm_drift.shape.drift_score"
BASELINE_SAMPLES = "llm_drift.baseline.samples"

SPAN_ATTRIBUTES = (
    SERVING_MODEL, MODEL_SUBSTITUTED, PROMPT_VARIANT, PROMPT_TUNED_FOR, PROMPT_MISMATCH,
    FALLBACK_ACTIVE, FALLBACK_SOURCE, FALLBACK_PRIMARY, FALLBACK_REASON, FALLBACK_ATTEMPT,
    SHAPE_KIND, SHAPE_ID, SHAPE_SIGNATURE, SHAPE_LENGTH_BUCKET, SHAPE_REFUSAL,
    SHAPE_CONTRACT_OK, SHAPE_DRIFTED, SHAPE_DRIFT_SCORE, BASELINE_SAMPLES,
)
STANDARD_ATTRIBUTES = (
    GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_ID, GEN_AI_RESPONSE_FINISH_REASONS, GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_OUTPUT_TYPE, GEN_AI_PROMPT_NAME, GEN_AI_TOKEN_TYPE,
    SERVER_ADDRESS, SERVER_PORT, ERROR_TYPE,
)

# Values of llm_drift.fallback.source
SOURCE_EXPLICIT = "explicit"
SOURCE_CHAIN = "chain"
SOURCE_POLICY = "policy"
SOURCE_GATEWAY = "gateway"
FALLBACK_SOURCES = (SOURCE_EXPLICIT, SOURCE_CHAIN, SOURCE_POLICY, SOURCE_GATEWAY)

# Values of llm_drift.shape.kind
KINDS = ("json", "markdown", "prose", "tool_call", "refusal", "code", "empty")

# Label value used past the per-variant cap on distinct shape ids.
OTHER_SHAPE_ID = "other"
# Label value when a metric attribute is not known (e.g. the primary a policy fallback replaces).
UNKNOWN = "unknown"

# --- metrics ---
METRIC_RESPONSES = "llm_drift.responses"
METRIC_DRIFT_SCORE = "llm_drift.shape.drift_score"
METRIC_FALLBACKS = "llm_drift.fallbacks"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRICS = (
    METRIC_RESPONSES, METRIC_DRIFT_SCORE, METRIC_FALLBACKS,
    METRIC_OPERATION_DURATION, METRIC_TOKEN_USAGE,
)

# Attributes of each llm_drift metric. SPEC lists the first ones; the last three of
# RESPONSES_ATTRIBUTES are additive (booleans, bounded) because the substitution, tuned-for and
# contract alerts need them and a span attribute alone cannot page anyone.
RESPONSES_ATTRIBUTES = (
    GEN_AI_PROVIDER_NAME, SERVING_MODEL, PROMPT_VARIANT, SHAPE_KIND, SHAPE_ID,
    FALLBACK_ACTIVE, SHAPE_DRIFTED, SHAPE_REFUSAL,
    MODEL_SUBSTITUTED, PROMPT_MISMATCH, SHAPE_CONTRACT_OK,
)
DRIFT_SCORE_ATTRIBUTES = (SERVING_MODEL, PROMPT_VARIANT, FALLBACK_ACTIVE)
FALLBACKS_ATTRIBUTES = (FALLBACK_PRIMARY, SERVING_MODEL, FALLBACK_SOURCE, FALLBACK_REASON)

# Explicit histogram boundaries for a 0..1 score.
DRIFT_SCORE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
# GenAI semconv advisory boundaries.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

# --- alerts (SPEC §3) ---
ALERTS = (
    "LLMFallbackStructuralDrift",
    "LLMFallbackShapeUnseenOnPrimary",
    "LLMPromptTunedForOtherModel",
    "LLMSilentModelSubstitution",
    "LLMRefusalShiftOnFallback",
    "LLMShapeContractViolations",
)

# --- environment variables (SPEC §5) ---
ENV_PRIMARY_MODELS = "LLM_DRIFT_PRIMARY_MODELS"
ENV_BASELINE_FILE = "LLM_DRIFT_BASELINE_FILE"
ENV_WARMUP = "LLM_DRIFT_WARMUP"
ENV_MAX_SHAPES_PER_VARIANT = "LLM_DRIFT_MAX_SHAPES_PER_VARIANT"
ENV_MAX_VARIANTS = "LLM_DRIFT_MAX_VARIANTS"
ENV_MAX_SCAN_BYTES = "LLM_DRIFT_MAX_SCAN_BYTES"
ENV_SIGNATURE_KEYS = "LLM_DRIFT_SIGNATURE_KEYS"
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
INSTRUMENTATION_NAME = "llm_drift"


def prometheus_name(name: str) -> str:
    """The label/metric name the default OTLP->Prometheus translation gives `name`."""
    out = []
    for ch in name:
        out.append(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_")
    return "".join(out)
