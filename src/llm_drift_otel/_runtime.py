"""The per-call pipeline: request -> span -> response -> shape -> fallback -> verdict -> telemetry.

`Runtime` holds what lives as long as the instrumentation (tracer, instruments, baselines, label
caps); `Call` is one SDK invocation. Every stage is guarded on its own: a stage that raises is
logged once and skipped, and the SDK call goes on untouched.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Mapping

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import semconv as sc
from ._baseline import BaselineRegistry, Verdict, Window
from ._cardinality import LabelLimiter
from ._config import Config
from ._counts import CountTable
from ._context import AttemptChain, ChainsByParent, current_fallback, current_request, current_variant
from ._fingerprint import Shape, fingerprint_output
from ._log import log_once, stage_failed
from ._models import is_substitution, matches_any, qualified
from ._peers import is_peer_llm_span
from ._variant import variant_of_system_prompt
from .providers import Endpoint, RequestInfo, ResponseInfo
from .version import __version__

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.28.0"
_TRUE, _FALSE = "true", "false"
_NO_FALLBACK: tuple[bool, str | None, str | None, str | None] = (False, None, None, None)
#: Metric attribute dicts kept for reuse (per model/server/variant combination); cleared whole past this.
_MAX_CACHED_ATTRIBUTE_SETS = 1024
_get_current_span = trace.get_current_span
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach
_perf_counter = time.perf_counter


def _flag(value: bool) -> str:
    return _TRUE if value else _FALSE


def _histogram(meter: metrics.Meter, name: str, unit: str, description: str, buckets: tuple) -> Any:
    try:
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=list(buckets))
    except TypeError:  # API older than the advisory parameter
        return meter.create_histogram(name, unit=unit, description=description)


class Runtime:
    """Everything one `instrument()` sets up; dropped by `uninstrument()`."""

    def __init__(self, config: Config, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.config = config
        self.tracer = trace.get_tracer("llm_drift_otel", __version__, tracer_provider, schema_url=_SCHEMA_URL)
        meter = metrics.get_meter("llm_drift_otel", __version__, meter_provider, schema_url=_SCHEMA_URL)
        self.responses = CountTable(sc.RESPONSES_ATTRIBUTES)
        meter.create_observable_counter(
            sc.METRIC_RESPONSES, callbacks=[self.responses.observe], unit="{response}",
            description="LLM responses by serving model, prompt variant and output shape")
        self.drift_scores = _histogram(
            meter, sc.METRIC_DRIFT_SCORE, "1",
            "How far a response's shape is from its prompt variant's baseline (0 typical, 1 never seen)",
            sc.DRIFT_SCORE_BUCKETS)
        self.fallbacks = meter.create_counter(
            sc.METRIC_FALLBACKS, unit="{fallback}", description="LLM calls served in place of the primary")
        self.duration = _histogram(meter, sc.METRIC_OPERATION_DURATION, "s", "GenAI operation duration",
                                   sc.DURATION_BUCKETS)
        self.tokens = _histogram(meter, sc.METRIC_TOKEN_USAGE, "{token}", "Measures number of input and output tokens used",
                                 sc.TOKEN_BUCKETS)
        self.baselines = BaselineRegistry(max_variants=config.max_variants, warmup=config.warmup,
                                          max_shapes=config.max_baseline_shapes)
        self.labels = LabelLimiter(config.max_shapes_per_variant, config.max_variants)
        self.chains = ChainsByParent()
        self.windows = RecentShapes(config.window_size, config.max_variants)
        self.metric_attributes: dict[tuple, tuple[dict, dict, dict]] = {}  # see Call._metric_attributes
        self.score_attributes: dict[tuple, dict] = {}
        if config.baseline_file:
            self.load_baselines(config.baseline_file)

    def load_baselines(self, path: str) -> None:
        try:
            count = self.baselines.load(path)
        except (OSError, ValueError) as exc:
            log_once("baseline-file:" + path,
                     "llm_drift_otel: could not load %s=%s (%s); starting with empty baselines",
                     sc.ENV_BASELINE_FILE, path, exc)
        except Exception as exc:  # a bug in the loader must not stop the app either
            stage_failed("baseline file load", exc)
        else:
            log_once("baseline-file-ok:" + path, "llm_drift_otel: loaded %d baselines from %s", count, path,
                     level=20)

    # --- one call ---

    def begin(self, endpoint: Endpoint, provider: str, instance: Any, args: tuple, kwargs: Mapping[str, Any],
              peer_below: bool = False) -> "Call | None":
        try:
            request = endpoint.request(instance, args, kwargs)
        except Exception as exc:
            stage_failed("request extraction", exc)
            request = RequestInfo(provider=provider)
        try:
            return Call(self, endpoint, request, peer_below)
        except Exception as exc:
            stage_failed("span start", exc)
            return None


# Kinds whose shape id alone is decisive: a renamed key or another tool-argument skeleton is drift
# in one response. Free text (markdown, prose) varies answer to answer; there the window decides.
_STRUCTURED_KINDS = frozenset(("json", "tool_call"))


def combine(shape: Shape, single: Verdict, window: Verdict | None) -> Verdict:
    """One response's verdict from its own shape and from the recent window of its (variant, model).

    The single answer decides when its structure settles it: a JSON or tool-call id the baseline never
    produced, or a kind it never produced at all. Otherwise the window test decides (`Baseline.compare`
    over the last `window_size` answers of this serving model for this variant), which holds its false
    alarm rate where one free-text answer cannot. The score is the larger of the two pieces of evidence.
    """
    if not single.ready:
        return single
    structural = shape.kind in _STRUCTURED_KINDS or single.score >= 1.0
    drifted = structural and single.drifted
    score = single.score if structural else 0.0
    if window is not None and window.ready:
        drifted = drifted or window.drifted
        score = max(score, window.score)
    return Verdict(drifted=drifted, score=score, ready=True, samples=single.samples)


class RecentShapes:
    """The last answers of each (variant, serving model), and their window verdict.

    The window test costs far more than a push, so a verdict is recomputed every few answers (and until
    the first one is ready) and reused in between: every `_EVERY_FALLBACK` answers of fallback traffic,
    where the alert needs it fast and calls are few; once per turnover of the window (`size` answers) on
    primary traffic, which is nearly every call and changes slowly. Bounded: least recently used keys go.
    """

    _EVERY_FALLBACK = 4

    def __init__(self, size: int, max_keys: int) -> None:
        self._size = size
        self._max = max_keys
        self._entries: OrderedDict[tuple[str, str], list] = OrderedDict()
        self._lock = threading.Lock()

    def verdict(self, variant: str, model: str, shape: Shape, baseline: Any, fallback: bool = True) -> Verdict | None:
        key = (variant, model)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [Window(self._size), 0, None]
                if len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            entry[1] += 1
            every = self._EVERY_FALLBACK if fallback else max(self._size, self._EVERY_FALLBACK)
            due = entry[2] is None or not entry[2].ready or entry[1] % every == 0
        window = entry[0]
        window.push(shape)
        if due:
            entry[2] = baseline.compare(window)
        return entry[2]

    def __len__(self) -> int:
        return len(self._entries)


class Call:
    """One SDK invocation: its span, and what we learn of it when it returns, raises or its stream ends."""

    __slots__ = ("rt", "endpoint", "request", "span", "_token", "_start", "_once", "variant", "declared",
                 "chain", "owns_span", "peer_metrics", "_parent_key", "_span_context")

    def __init__(self, rt: Runtime, endpoint: Endpoint, request: RequestInfo, peer_below: bool = False) -> None:
        self.rt = rt
        self.endpoint = endpoint
        self.request = request
        self._once = [True]  # popped by the first ending (list.pop is atomic): the span ends exactly once
        declared = self.declared = current_variant()
        try:
            self.variant = declared.name if declared else variant_of_system_prompt(request.system_prompt)
        except Exception as exc:
            stage_failed("prompt variant", exc)
            self.variant = "none"
        self._parent_key: tuple[int, int] | None = None
        current = _get_current_span()
        chain = self.chain = self._chain(current)
        op = endpoint.operation
        model = request.model
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: op,
            sc.GEN_AI_PROVIDER_NAME: request.provider,
            sc.PROMPT_VARIANT: self.variant,
        }
        if model:
            attributes[sc.GEN_AI_REQUEST_MODEL] = model
        if request.server_address:
            attributes[sc.SERVER_ADDRESS] = request.server_address
            if request.server_port:
                attributes[sc.SERVER_PORT] = request.server_port
        if request.output_type:
            attributes[sc.GEN_AI_OUTPUT_TYPE] = request.output_type
        if declared:
            attributes[sc.GEN_AI_PROMPT_NAME] = declared.name
            if declared.tuned_for:
                attributes[sc.PROMPT_TUNED_FOR] = list(declared.tuned_for)
        attributes[sc.FALLBACK_ATTEMPT] = chain.attempt_number() if chain is not None else 0
        if is_peer_llm_span(current):
            # another GenAI instrumentation wraps outside us: one span for the call, carrying both
            self.span, self.owns_span, self._token = current, False, None
            current.set_attributes(attributes)
            self._span_context = _set_span_in_context(current)  # for exemplars, also at a stream's end
        else:
            span = self.span = rt.tracer.start_span(f"{op} {model}" if model else op, kind=SpanKind.CLIENT,
                                                    attributes=attributes)
            self.owns_span = True
            # kept for the metric records, which come after detach (or at a stream's end, anywhere): their
            # exemplars then point at this call's span, the trace a drift-score bucket should open
            self._span_context = _set_span_in_context(span)
            self._token = _attach(self._span_context)
        # a peer records gen_ai.client.* metrics for this call: do not count it twice
        self.peer_metrics = peer_below or not self.owns_span
        self._start = _perf_counter()

    def _chain(self, current: Any) -> AttemptChain | None:
        """This call's attempt chain: the app's `request()`, else the one of the parent span if it has one.

        A parent span gets a chain only once an attempt under it fails (`_failed_chain`), so the
        common case — a successful call in a request span — allocates nothing.
        """
        try:
            chain = current_request()
            if chain is not None:
                return chain
            parent = current.get_span_context()
            if parent.is_valid:
                self._parent_key = (parent.trace_id, parent.span_id)
                return self.rt.chains.peek(self._parent_key)
        except Exception as exc:
            stage_failed("fallback chain lookup", exc)
        return None

    def _failed_chain(self) -> AttemptChain | None:
        if self.chain is None and self._parent_key is not None:
            self.chain = self.rt.chains.get(self._parent_key)
        return self.chain

    def detach(self) -> None:
        """Leave the span's context: called in the same context `begin` entered, right after the SDK returns."""
        token, self._token = self._token, None
        if token is not None:
            try:
                _detach(token)
            except Exception as exc:
                stage_failed("context detach", exc)

    # --- endings ---

    def returned(self, result: Any) -> Any:
        """The SDK returned `result`: finish now, or hand back a stream proxy that finishes later."""
        try:
            endpoint = self.endpoint
            request = self.request
            if request.raw_response and endpoint.unwrap_raw is not None:
                body, _headers = endpoint.unwrap_raw(result)
                info = endpoint.response(body) if body is not None else ResponseInfo(output=None)
                if body is None:
                    info.complete = False
                self.finish(info)
                return result
            if request.stream and endpoint.stream is not None:
                from ._streams import wrap_stream

                accumulator = endpoint.stream(self.rt.config.max_scan_bytes)
                if endpoint.stream_holder is not None:
                    # the stream sits inside the return value (boto3: {"stream": EventStream})
                    wrapped = endpoint.stream_holder(
                        result, lambda stream: wrap_stream(stream, self, accumulator, asynchronous=endpoint.is_async))
                else:
                    wrapped = wrap_stream(result, self, accumulator, asynchronous=endpoint.is_async)
                if wrapped is not None:
                    return wrapped
            self.finish(endpoint.response(result))
        except Exception as exc:
            stage_failed("response extraction", exc)
            self.finish(ResponseInfo(complete=False))
        return result

    def failed(self, exc: BaseException) -> None:
        self.finish(None, exc)

    def finish(self, info: ResponseInfo | None, error: BaseException | None = None) -> None:
        """End the span and record metrics, exactly once whatever path gets here first."""
        try:
            self._once.pop()
        except IndexError:
            return
        try:
            self._finish(info, error)
        except Exception as exc:
            stage_failed("span finish", exc)
            try:
                if self.owns_span:
                    self.span.end()
            except Exception:
                pass

    def _metric_attributes(self, response_model: str | None) -> tuple[dict, dict, dict]:
        """The gen_ai.client.* attributes (common, input tokens, output tokens): the same few sets come back on
        every call, so they are built once per (operation, provider, models, server) and reused (the SDK copies
        what it keeps; nothing writes to these dicts)."""
        request = self.request
        key = (self.endpoint.operation, request.provider, request.model, request.server_address, response_model)
        cache = self.rt.metric_attributes
        found = cache.get(key)
        if found is None:
            common: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: key[0], sc.GEN_AI_PROVIDER_NAME: key[1]}
            if request.model:
                common[sc.GEN_AI_REQUEST_MODEL] = request.model
            if request.server_address:
                common[sc.SERVER_ADDRESS] = request.server_address
            if response_model:
                common[sc.GEN_AI_RESPONSE_MODEL] = response_model
            found = (common, {**common, sc.GEN_AI_TOKEN_TYPE: "input"}, {**common, sc.GEN_AI_TOKEN_TYPE: "output"})
            if len(cache) >= _MAX_CACHED_ATTRIBUTE_SETS:
                cache.clear()
            cache[key] = found
        return found

    def _finish(self, info: ResponseInfo | None, error: BaseException | None) -> None:
        rt, request, span = self.rt, self.request, self.span
        duration = _perf_counter() - self._start
        provider = request.provider

        if error is not None:
            error_type = type(error).__qualname__
            try:  # guarded on its own: the attempt chain and the duration metric below must not depend on it
                if span.is_recording():
                    span.set_attribute(sc.ERROR_TYPE, error_type)
                    if self.owns_span:
                        span.set_status(Status(StatusCode.ERROR))
            except Exception as exc:
                stage_failed("span attributes", exc)
            chain = self._failed_chain()
            if chain is not None:
                chain.record_failure(qualified(provider, request.model) or provider, request.model, error_type)
            if self.owns_span:
                span.end()
            if not self.peer_metrics:
                try:
                    common = self._metric_attributes(None)[0]
                    rt.duration.record(duration, {**common, sc.ERROR_TYPE: error_type}, context=self._span_context)
                except Exception as exc:
                    stage_failed("metrics recording", exc)
            return

        if info is None:
            info = ResponseInfo(complete=False)
        gateway = info.gateway
        model = info.model
        serving = (gateway.serving_model if gateway is not None and gateway.serving_model else None) \
            or model or request.model
        serving_label = serving or "unknown"
        attrs: dict[str, Any] = {sc.SERVING_MODEL: serving_label}
        if model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = model
        if info.id:
            attrs[sc.GEN_AI_RESPONSE_ID] = info.id
        if info.finish_reasons:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = list(info.finish_reasons)
        if info.input_tokens is not None:
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = info.input_tokens
        if info.output_tokens is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = info.output_tokens
        substituted = is_substitution(request.model, serving)
        attrs[sc.MODEL_SUBSTITUTED] = substituted
        declared = self.declared
        mismatch = False
        if declared and declared.tuned_for:
            mismatch = not matches_any(declared.tuned_for, provider, serving)
            attrs[sc.PROMPT_MISMATCH] = mismatch

        # fallback: explicit > gateway > chain > policy
        fallback = _NO_FALLBACK
        try:
            fallback = self._resolve_fallback(provider, serving, gateway)
        except Exception as exc:
            stage_failed("fallback resolution", exc)
        fb_active = fallback[0]
        attrs[sc.FALLBACK_ACTIVE] = fb_active
        if fb_active:
            _, fb_source, fb_primary, fb_reason = fallback
            attrs[sc.FALLBACK_SOURCE] = fb_source
            if fb_primary:
                attrs[sc.FALLBACK_PRIMARY] = fb_primary
            if fb_reason:
                attrs[sc.FALLBACK_REASON] = fb_reason

        output = info.output
        shape: Shape | None = None
        if output is not None and info.complete and self.endpoint.produces_output:
            try:
                config = rt.config
                shape = fingerprint_output(output, max_scan_bytes=config.max_scan_bytes,
                                           hash_keys=config.hash_signature_keys)
            except Exception as exc:
                stage_failed("fingerprint", exc)

        contract_ok: bool | None = None
        verdict = None
        if shape is not None:
            attrs[sc.SHAPE_KIND] = shape.kind
            attrs[sc.SHAPE_ID] = shape.id
            attrs[sc.SHAPE_SIGNATURE] = shape.signature
            attrs[sc.SHAPE_LENGTH_BUCKET] = shape.length_bucket
            attrs[sc.SHAPE_REFUSAL] = shape.refusal
            if declared is not None and declared.contract is not None:
                try:
                    contract_ok = bool(declared.contract.check(output, shape))
                    attrs[sc.SHAPE_CONTRACT_OK] = contract_ok
                except Exception as exc:
                    stage_failed("contract check", exc)
            try:
                baseline = rt.baselines.get(self.variant)
                single = baseline.judge(shape)
                if not fb_active:
                    baseline.learn(shape)
                attrs[sc.BASELINE_SAMPLES] = single.samples
            except Exception as exc:
                stage_failed("baseline", exc)
                single = None
            if single is not None:
                window = None
                try:
                    window = rt.windows.verdict(self.variant, serving_label, shape, baseline, fb_active)
                except Exception as exc:
                    stage_failed("window verdict", exc)
                verdict = combine(shape, single, window)
                if verdict.ready:
                    attrs[sc.SHAPE_DRIFTED] = verdict.drifted
                    attrs[sc.SHAPE_DRIFT_SCORE] = float(verdict.score)

        if rt.config.capture_content and output is not None:
            try:
                text = output.text[: rt.config.max_scan_bytes]
                attrs[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
            except Exception as exc:
                stage_failed("content capture", exc)

        try:
            if span.is_recording():
                span.set_attributes(attrs)
        except Exception as exc:
            stage_failed("span attributes", exc)
        if self.owns_span:
            span.end()

        if self.chain is not None:
            try:
                self.chain.record_success(fb_active and fallback[1] == sc.SOURCE_CHAIN)
            except Exception as exc:
                stage_failed("fallback chain update", exc)

        try:
            self._record_metrics(duration, info, serving_label, provider, shape, verdict, substituted, mismatch,
                                 contract_ok, fallback)
        except Exception as exc:
            stage_failed("metrics recording", exc)

    def _resolve_fallback(self, provider: str, serving: str | None, gateway: Any) -> tuple[bool, str | None, str | None, str | None]:
        declared = current_fallback()
        if declared is not None:
            return True, sc.SOURCE_EXPLICIT, declared.primary, declared.reason
        if gateway is not None and gateway.fallback:
            return True, sc.SOURCE_GATEWAY, gateway.primary, gateway.reason
        if self.chain is not None:
            replaced = self.chain.fallback_for(qualified(provider, self.request.model))
            if replaced is not None:
                failed, attempt = replaced
                return True, sc.SOURCE_CHAIN, failed.target, failed.error_type
        primaries = self.rt.config.primary_models
        if primaries and serving and not matches_any(primaries, provider, serving):
            only = primaries[0] if len(primaries) == 1 and "*" not in primaries[0] else None
            return True, sc.SOURCE_POLICY, only, None
        return False, None, None, None

    def _record_metrics(self, duration: float, info: ResponseInfo, serving: str, provider: str,
                        shape: Shape | None, verdict: Any, substituted: bool, mismatch: bool,
                        contract_ok: bool | None, fallback: tuple) -> None:
        rt = self.rt
        context = self._span_context
        if not self.peer_metrics:
            common, input_attrs, output_attrs = self._metric_attributes(info.model)
            rt.duration.record(duration, common, context=context)
            if info.input_tokens is not None:
                rt.tokens.record(info.input_tokens, input_attrs, context=context)
            if info.output_tokens is not None:
                rt.tokens.record(info.output_tokens, output_attrs, context=context)
        fb_active, fb_source, fb_primary, fb_reason = fallback
        if fb_active:
            rt.fallbacks.add(1, {
                sc.FALLBACK_PRIMARY: fb_primary or sc.UNKNOWN,
                sc.SERVING_MODEL: serving,
                sc.FALLBACK_SOURCE: fb_source or sc.UNKNOWN,
                sc.FALLBACK_REASON: fb_reason or sc.UNKNOWN,
            }, context=context)
        if shape is None:
            return
        variant_label, shape_label = rt.labels.labels(self.variant, shape.id)
        ready = verdict is not None and verdict.ready
        fb_flag = _TRUE if fb_active else _FALSE
        # in the order of sc.RESPONSES_ATTRIBUTES
        rt.responses.add((provider, serving, variant_label, shape.kind, shape_label, fb_flag,
                          _TRUE if ready and verdict.drifted else _FALSE, _TRUE if shape.refusal else _FALSE,
                          _TRUE if substituted else _FALSE, _TRUE if mismatch else _FALSE,
                          None if contract_ok is None else _flag(contract_ok)))
        if ready:
            key = (serving, variant_label, fb_flag)
            cache = rt.score_attributes
            attributes = cache.get(key)
            if attributes is None:
                attributes = {sc.SERVING_MODEL: serving, sc.PROMPT_VARIANT: variant_label, sc.FALLBACK_ACTIVE: fb_flag}
                if len(cache) >= _MAX_CACHED_ATTRIBUTE_SETS:
                    cache.clear()
                cache[key] = attributes
            rt.drift_scores.record(float(verdict.score), attributes, context=context)
