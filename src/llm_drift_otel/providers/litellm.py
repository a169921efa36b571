"""LiteLLM: `litellm.completion` / `acompletion` and `Router.completion` / `acompletion`, with fallbacks.

LiteLLM is a router: one app call may try several deployments, and calls `litellm.acompletion` and the
OpenAI SDK for each attempt. The endpoints here have `routes_calls`, so those inner calls get no span of
their own: one span per app call, counted once. What LiteLLM knows after the call is on the response's
`_hidden_params`: the provider that served (`custom_llm_provider`), the deployment (`model_id`) and, in
`additional_headers`, `x-litellm-attempted-fallbacks` (and `x-litellm-fallback-errors` when the app asked
for them). A fallback becomes a `GatewayReport`: `llm_drift.fallback.source=gateway`, the primary being the
requested group's first deployment as `provider/model`.

`litellm.completion` is a module function (no class to patch): it is patched on the `litellm` module, so
code that did `from litellm import completion` before instrumenting keeps the unpatched function.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from typing import Any, Mapping, Sequence

from .._fingerprint import ModelOutput
from . import Endpoint, GatewayReport, RequestInfo, ResponseInfo
from ._common import field, litellm_fallback_reason, litellm_fallbacks, server_of, str_or_none, system_text
from .openai import ChatStreamAccumulator, chat_output, chat_response

PROVIDER = "litellm"

# LiteLLM's provider names -> gen_ai.provider.name well-known values; others are kept as LiteLLM names them.
_SEMCONV_PROVIDER = {
    "openai": "openai", "text-completion-openai": "openai", "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai", "azure_ai": "azure.ai.inference", "anthropic": "anthropic",
    "bedrock": "aws.bedrock", "vertex_ai": "gcp.vertex_ai", "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini", "mistral": "mistral_ai", "codestral": "mistral_ai", "cohere": "cohere",
    "cohere_chat": "cohere", "groq": "groq", "deepseek": "deepseek", "xai": "x_ai", "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
}


class _Asked:
    """What a call asked for, kept from the request to the response (same context) for the fallback report."""

    __slots__ = ("primary", "primary_ids")

    def __init__(self, primary: str | None, primary_ids: frozenset[str] = frozenset()) -> None:
        self.primary = primary  # provider/model of the requested model or group's first deployment
        self.primary_ids = primary_ids  # the requested group's deployment ids (Router only)


# Set by the request readers, read by the response readers and stream accumulators of the same call. The
# core calls both in the app's context around the SDK call, and routed inner calls read nothing here.
_asked: ContextVar[_Asked | None] = ContextVar("llm_drift_litellm_asked", default=None)


def _litellm_provider(model: str | None, custom_llm_provider: Any = None, api_base: Any = None) -> str | None:
    """LiteLLM's own provider name for a model string (`openai/gpt-4o` -> openai, `gpt-4o` -> openai)."""
    if isinstance(custom_llm_provider, str) and custom_llm_provider:
        return custom_llm_provider
    litellm = sys.modules.get("litellm")
    if not model or litellm is None:
        return None
    get_llm_provider = getattr(litellm, "get_llm_provider", None)
    if get_llm_provider is None:
        return None
    try:
        provider = get_llm_provider(model=model, api_base=api_base if isinstance(api_base, str) else None)[1]
    except Exception:  # an unknown model: LiteLLM raises BadRequestError
        return None
    return provider if isinstance(provider, str) and provider else None


def _semconv_provider(litellm_provider: str | None) -> str:
    if not litellm_provider:
        return PROVIDER
    return _SEMCONV_PROVIDER.get(litellm_provider, litellm_provider)


def _with_vendor(model: str | None, litellm_provider: str | None) -> str | None:
    """`provider/model` the way LiteLLM names models; a model that names its vendor already is kept."""
    if not model:
        return None
    if "/" in model or not litellm_provider:
        return model
    return f"{litellm_provider}/{model}"


def _argument(args: tuple, kwargs: Mapping[str, Any], name: str, position: int) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def _request(model: Any, messages: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
    info = RequestInfo(provider=PROVIDER, model=str_or_none(model), stream=kwargs.get("stream") is True)
    info.system_prompt = system_text(messages)
    info.input_messages = messages
    response_format = kwargs.get("response_format")
    if isinstance(response_format, type) or field(response_format, "type") in ("json_object", "json_schema"):
        info.output_type = "json"
    return info


# ---- litellm.completion / acompletion ----

def completion_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    model = _argument(args, kwargs, "model", 0)
    info = _request(model, _argument(args, kwargs, "messages", 1), kwargs)
    api_base = kwargs.get("api_base") or kwargs.get("base_url")
    provider = _litellm_provider(info.model, kwargs.get("custom_llm_provider"), api_base)
    info.provider = _semconv_provider(provider)
    info.server_address, info.server_port = server_of(api_base if isinstance(api_base, str) else None)
    _asked.set(_Asked(_with_vendor(info.model, provider)))
    return info


# ---- Router.completion / acompletion ----

def _group_deployments(router: Any, group: str) -> Sequence[Any]:
    """The deployments of a model group: `registry().deployments()` (Rust-core Router), else `get_model_list`."""
    try:
        registry = getattr(router, "registry", None)
        if callable(registry):
            found = registry().deployments(group)
        else:
            get_model_list = getattr(router, "get_model_list", None)
            found = get_model_list(model_name=group) if callable(get_model_list) else None
    except Exception:  # a wildcard or alias this Router version cannot list: the group name stands in
        return ()
    return found if isinstance(found, (list, tuple)) else ()


def router_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    """The requested group's first deployment is the primary: its model is the span's request model."""
    group = str_or_none(_argument(args, kwargs, "model", 0))
    info = _request(group, _argument(args, kwargs, "messages", 1), kwargs)
    asked = _Asked(group)
    _asked.set(asked)
    if group is None:
        return info
    deployments = _group_deployments(instance, group)
    if not deployments:
        return info
    params = field(deployments[0], "litellm_params") or {}
    model = str_or_none(field(params, "model"))
    api_base = field(params, "api_base")
    provider = _litellm_provider(model, field(params, "custom_llm_provider"), api_base)
    info.model = model or group
    info.provider = _semconv_provider(provider)
    if isinstance(api_base, str):
        info.server_address, info.server_port = server_of(api_base)
    ids = (field(field(d, "model_info"), "id") for d in deployments)
    asked.primary = _with_vendor(model, provider) or group
    asked.primary_ids = frozenset(i for i in ids if isinstance(i, str))
    return info


# ---- responses ----

def _hidden_params(obj: Any) -> Mapping[str, Any]:
    hidden = getattr(obj, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def gateway_report(asked: _Asked | None, hidden: Mapping[str, Any], served_model: str | None,
                   served_by: str | None = None, model_id: str | None = None) -> GatewayReport:
    """Serving model with its vendor prefix; fallback when LiteLLM says it fell back or another group served."""
    headers = hidden.get("additional_headers")
    headers = headers if isinstance(headers, Mapping) else {}
    provider = str_or_none(hidden.get("custom_llm_provider")) or served_by
    model_id = str_or_none(hidden.get("model_id")) or model_id
    if "x-litellm-attempted-fallbacks" in headers:
        fell_back = litellm_fallbacks(headers) > 0
    else:  # a stream's chunks, and LiteLLM without the header (1.53 has none), name the deployment that served
        fell_back = bool(asked is not None and asked.primary_ids and model_id is not None
                         and model_id not in asked.primary_ids)
    return GatewayReport(
        fallback=fell_back,
        primary=asked.primary if (fell_back and asked is not None) else None,
        reason=litellm_fallback_reason(headers) if fell_back else None,
        serving_model=_with_vendor(served_model, provider),
    )


def completion_response(response: Any) -> ResponseInfo:
    info = chat_response(response)
    hidden = _hidden_params(response)
    info.model = str_or_none(hidden.get("provider_response_model")) or info.model  # what the provider said
    info.gateway = gateway_report(_asked.get(), hidden, info.model)
    return info


class LiteLLMStreamAccumulator(ChatStreamAccumulator):
    """OpenAI-shaped chunks (`ModelResponseStream`) whose `model` is the requested one: each chunk's
    `_hidden_params` has the provider's own model name and the deployment that served."""

    __slots__ = ("_routed", "_served_by", "_model_id", "_provider_model")

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._routed = _asked.get()  # made right after the call returned, in its context
        self._served_by: str | None = None
        self._model_id: str | None = None
        self._provider_model: str | None = None

    def add(self, chunk: Any) -> None:
        super().add(chunk)
        if self._served_by is None or self._provider_model is None:
            hidden = _hidden_params(chunk)
            self._served_by = self._served_by or str_or_none(hidden.get("custom_llm_provider"))
            self._model_id = self._model_id or str_or_none(hidden.get("model_id"))
            self._provider_model = self._provider_model or str_or_none(hidden.get("provider_response_model"))

    def result(self) -> ResponseInfo:
        info = self.read()
        info.model = self._provider_model or info.model
        info.gateway = gateway_report(self._routed, {}, info.model, self._served_by, self._model_id)
        return info


def _endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for is_async, name in ((False, "completion"), (True, "acompletion")):
        out.append(Endpoint("litellm", name, "chat", is_async, completion_request, completion_response,
                            LiteLLMStreamAccumulator, routes_calls=True))
        # Router: the Rust-core Router serves its endpoints from `RustCore`; older Routers define them.
        for module, owner in (("litellm.router_rust.core", "RustCore"), ("litellm.router", "Router")):
            out.append(Endpoint(module, f"{owner}.{name}", "chat", is_async, router_request, completion_response,
                                LiteLLMStreamAccumulator, routes_calls=True))
    return out


class LiteLLMAdapter:
    name = PROVIDER
    root_module = "litellm"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        module = type(response).__module__ or ""
        if not module.startswith("litellm.") or field(response, "choices") is None:
            return None
        return chat_output(response)


ADAPTER = LiteLLMAdapter()
