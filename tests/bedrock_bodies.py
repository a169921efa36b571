"""A local Bedrock Runtime on 127.0.0.1 for real boto3 clients: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream, answering the service's own bodies.

Streams use the real AWS event-stream framing (prelude, string headers, CRC32s), which botocore has a
decoder for but no encoder, so `frame()` writes it. InvokeModel bodies are per model family: Anthropic
Messages for `anthropic.*`, Meta Llama for `meta.*`, Mistral for `mistral.*`. Text comes from
`MockProvider`'s house styles; `failing` models answer with Bedrock's error for `fail_status`.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import threading
from binascii import crc32
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config

from llm_drift_otel._mock_provider import MockProvider

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_US = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
MISTRAL = "mistral.mixtral-8x7b-instruct-v0:1"
ROUTER = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
ROUTED = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
STYLES = {CLAUDE: "json_card", CLAUDE_US: "json_card", ROUTER: "json_card", LLAMA: "markdown_bullets",
          MISTRAL: "markdown_bullets"}
_ERRORS = {429: "ThrottlingException", 503: "ServiceUnavailableException", 500: "InternalServerException"}
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"  # the service pads event payloads with a "p" field


# ---- AWS event-stream framing ----

def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: total and headers lengths, prelude CRC, string headers, payload, CRC."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value.encode())) + value.encode()
        for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: dict) -> bytes:
    payload = json.dumps({**body, "p": _PAD[: len(event_type) + 8]}).encode()
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                 payload)


def exception_event(exception_type: str, message: str) -> bytes:
    return frame({":exception-type": exception_type, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())


def chunk_event(body: dict) -> bytes:
    """An InvokeModelWithResponseStream chunk: the model's JSON event, base64 in `bytes`."""
    return event("chunk", {"bytes": base64.b64encode(json.dumps(body).encode()).decode()})


# ---- Converse ----

def _pieces(text: str, n: int = 6) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def converse_body(text: str, *, stop: str = "end_turn", tool: dict | None = None, trace: dict | None = None) -> dict:
    content = [{"toolUse": tool}] if tool else [{"text": text}]
    body = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if tool else stop,
        "usage": {"inputTokens": 42, "outputTokens": _tokens(text), "totalTokens": 42 + _tokens(text)},
        "metrics": {"latencyMs": 512},
    }
    if trace:
        body["trace"] = trace
    return body


def converse_stream_events(text: str, *, stop: str = "end_turn", tool: dict | None = None) -> bytes:
    out = [event("messageStart", {"role": "assistant"})]
    if tool:
        out.append(event("contentBlockStart", {"contentBlockIndex": 0, "start": {
            "toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}}))
        for piece in _pieces(json.dumps(tool["input"]), 3):
            out.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}))
    else:
        for piece in _pieces(text):
            out.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
    out.append(event("contentBlockStop", {"contentBlockIndex": 0}))
    out.append(event("messageStop", {"stopReason": "tool_use" if tool else stop}))
    out.append(event("metadata", {"usage": {"inputTokens": 42, "outputTokens": _tokens(text),
                                            "totalTokens": 42 + _tokens(text)}, "metrics": {"latencyMs": 640}}))
    return b"".join(out)


# ---- InvokeModel, per model family ----

def _metrics(text: str) -> dict:
    return {"inputTokenCount": 42, "outputTokenCount": _tokens(text), "invocationLatency": 900,
            "firstByteLatency": 210}


def anthropic_body(text: str, *, tool: dict | None = None) -> dict:
    content = [{"type": "tool_use", "id": tool["toolUseId"], "name": tool["name"], "input": tool["input"]}] \
        if tool else [{"type": "text", "text": text}]
    return {"id": "msg_bdrk_01HxQmXb7r3bqVY3W2hR9pJd", "type": "message", "role": "assistant",
            "model": "claude-3-5-sonnet-20240620", "content": content,
            "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 42, "output_tokens": _tokens(text)}}


def anthropic_stream(text: str) -> bytes:
    out = [chunk_event({"type": "message_start", "message": {
        "id": "msg_bdrk_01HxQmXb7r3bqVY3W2hR9pJd", "type": "message", "role": "assistant",
        "model": "claude-3-5-sonnet-20240620", "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 1}}}),
        chunk_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    for piece in _pieces(text):
        out.append(chunk_event({"type": "content_block_delta", "index": 0,
                                "delta": {"type": "text_delta", "text": piece}}))
    out += [chunk_event({"type": "content_block_stop", "index": 0}),
            chunk_event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": _tokens(text)}}),
            chunk_event({"type": "message_stop", "amazon-bedrock-invocationMetrics": _metrics(text)})]
    return b"".join(out)


def llama_body(text: str) -> dict:
    return {"generation": text, "prompt_token_count": 42, "generation_token_count": _tokens(text),
            "stop_reason": "stop"}


def llama_stream(text: str) -> bytes:
    pieces = _pieces(text)
    out = [chunk_event({"generation": piece, "prompt_token_count": 42 if i == 0 else None,
                        "generation_token_count": i + 1, "stop_reason": None}) for i, piece in enumerate(pieces)]
    out.append(chunk_event({"generation": "", "prompt_token_count": None, "generation_token_count": len(pieces),
                            "stop_reason": "stop", "amazon-bedrock-invocationMetrics": _metrics(text)}))
    return b"".join(out)


def mistral_body(text: str) -> dict:
    return {"outputs": [{"text": text, "stop_reason": "stop"}]}


# ---- the service ----

class BedrockMock:
    """Bedrock Runtime's REST API for a few models. `requests` records (path, parsed JSON body)."""

    def __init__(self, seed: int = 7) -> None:
        self.provider = MockProvider(styles=dict(STYLES), snapshots={}, seed=seed)
        self.tool_models: set[str] = set()
        self.guardrail_models: set[str] = set()
        self.stream_failures: set[str] = set()  # a modelStreamErrorException after two events
        self.requests: list[tuple[str, Any]] = []

    @property
    def failing(self) -> set[str]:
        return self.provider.failing

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        _, _, rest = path.partition("/model/")
        model_id, _, operation = rest.rpartition("/")
        model_id = unquote(model_id)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        self.requests.append((path, request))
        if model_id in self.provider.failing:
            status = self.provider.fail_status
            kind = _ERRORS.get(status, "ServiceUnavailableException")
            return status, {"content-type": "application/json",
                            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}, \
                json.dumps({"message": "Too many requests, please wait before trying again."}).encode()
        text = self.provider.text_for(model_id)
        tool = {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_order_status",
                "input": {"order_id": "A-1042", "verbose": True}} if model_id in self.tool_models else None
        stop = "guardrail_intervened" if model_id in self.guardrail_models else "end_turn"
        if stop != "end_turn":
            text = "Sorry, the model cannot answer this question."
        stream_headers = {"content-type": "application/vnd.amazon.eventstream",
                          "x-amzn-bedrock-content-type": "application/json"}
        if operation == "converse":
            trace = {"promptRouter": {"invokedModelId": ROUTED}} if model_id == ROUTER else None
            return 200, {"content-type": "application/json"}, \
                json.dumps(converse_body(text, stop=stop, tool=tool, trace=trace)).encode()
        if operation == "converse-stream":
            events = converse_stream_events(text, stop=stop, tool=tool)
            if model_id in self.stream_failures:
                events = event("messageStart", {"role": "assistant"}) + event(
                    "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text[:5]}}) + exception_event(
                    "modelStreamErrorException", "The model stream failed.")
            return 200, stream_headers, events
        family = model_id.split(".")[-2] if model_id.count(".") > 1 else model_id.split(".")[0]
        if operation == "invoke":
            payload = {"anthropic": lambda: anthropic_body(text, tool=tool), "meta": lambda: llama_body(text),
                       "mistral": lambda: mistral_body(text)}[family]()
            return 200, {"content-type": "application/json"}, json.dumps(payload).encode()
        if operation == "invoke-with-response-stream":
            return 200, stream_headers, {"anthropic": anthropic_stream, "meta": llama_stream}[family](text)
        return 404, {"content-type": "application/json"}, b'{"message": "no route"}'

    def serve(self) -> "RunningBedrock":
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                status, headers, body = mock.handle(self.path, self.rfile.read(length))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="bedrock-mock", daemon=True)
        thread.start()
        return RunningBedrock(server)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # early-closing clients are what tests do
            super().handle_error(request, client_address)


class RunningBedrock:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def client(self, service: str = "bedrock-runtime") -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.url,
                            aws_access_key_id="AKIDTESTNOTAKEY", aws_secret_access_key="test-not-a-secret",
                            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
