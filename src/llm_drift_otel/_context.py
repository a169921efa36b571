"""What the application tells us about the calls it makes: variant, declared fallback, logical request.

Context variables, so the declarations follow threads' and asyncio tasks' own context. Pure: no OTel.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Hashable, Iterator, NamedTuple, Sequence


class VariantDeclaration(NamedTuple):
    name: str
    tuned_for: tuple[str, ...] = ()
    contract: Any = None  # a Contract


class FallbackDeclaration(NamedTuple):
    primary: str | None = None
    reason: str | None = None


class FailedAttempt(NamedTuple):
    target: str  # provider/model
    model: str | None
    error_type: str


class AttemptChain:
    """The attempts of one logical request: a failure followed by a call to another model is fallback."""

    __slots__ = ("failures", "attempts", "lock")

    def __init__(self) -> None:
        self.failures: list[FailedAttempt] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def fallback_for(self, target: str | None) -> tuple[FailedAttempt, int] | None:
        """The failed primary this call replaces, and this call's attempt number; None if not fallback."""
        with self.lock:
            attempt = self.attempts
            if not self.failures:
                return None
            first = self.failures[0]
            if target is not None and all(f.target == target for f in self.failures):
                return None  # a retry of the very model that failed is not a fallback
            return first, attempt

    def attempt_number(self) -> int:
        with self.lock:
            return self.attempts

    def record_failure(self, target: str, model: str | None, error_type: str) -> None:
        with self.lock:
            self.attempts += 1
            if len(self.failures) < 16:
                self.failures.append(FailedAttempt(target, model, error_type))

    def record_success(self, was_fallback: bool) -> None:
        with self.lock:
            if was_fallback:
                self.attempts += 1
            else:
                # the primary answered: the next call starts a fresh chain
                self.failures.clear()
                self.attempts = 0


_variant: ContextVar[VariantDeclaration | None] = ContextVar("llm_drift_variant", default=None)
_fallback: ContextVar[FallbackDeclaration | None] = ContextVar("llm_drift_fallback", default=None)
_request: ContextVar[AttemptChain | None] = ContextVar("llm_drift_request", default=None)


@contextmanager
def prompt_variant(name: str, tuned_for: Sequence[str] | str | None = None, contract: Any = None) -> Iterator[None]:
    """LLM calls inside use prompt variant `name`, tuned for `tuned_for` models, held to `contract`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("prompt_variant(name): name must be a non-empty string")
    if isinstance(tuned_for, str):
        tuned_for = (tuned_for,)
    token = _variant.set(VariantDeclaration(name.strip(), tuple(tuned_for or ()), contract))
    try:
        yield
    finally:
        _variant.reset(token)


@contextmanager
def fallback(primary: str | None = None, reason: str | None = None) -> Iterator[None]:
    """LLM calls inside are fallback traffic, serving in place of `primary` (`provider/model`)."""
    token = _fallback.set(FallbackDeclaration(primary, reason))
    try:
        yield
    finally:
        _fallback.reset(token)


@contextmanager
def request() -> Iterator[AttemptChain]:
    """One logical request: an LLM call that raised, followed by a call to another model, is fallback."""
    chain = AttemptChain()
    token = _request.set(chain)
    try:
        yield chain
    finally:
        _request.reset(token)


def current_variant() -> VariantDeclaration | None:
    return _variant.get()


def current_fallback() -> FallbackDeclaration | None:
    return _fallback.get()


def current_request() -> AttemptChain | None:
    return _request.get()


class ChainsByParent:
    """Implicit attempt chains, one per active parent span, for apps that never call `request()`.

    Bounded LRU: a parent span that has ended simply ages out.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._chains: OrderedDict[Hashable, AttemptChain] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> AttemptChain:
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                chain = self._chains[key] = AttemptChain()
                if len(self._chains) > self._max:
                    self._chains.popitem(last=False)
            else:
                self._chains.move_to_end(key)
            return chain

    def peek(self, key: Hashable) -> AttemptChain | None:
        """The chain of `key` if an attempt under it has failed; never creates one."""
        with self._lock:
            return self._chains.get(key)

    def __len__(self) -> int:
        return len(self._chains)
