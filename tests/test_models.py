"""Model-name reasoning: substitution vs snapshot/alias, and primary-model policy matching."""

from __future__ import annotations

import pytest

from llm_drift_otel._models import is_substitution, matches_any


@pytest.mark.parametrize("requested, served", [
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4", "gpt-4-0613"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
    ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet-20240620"),
    ("claude-3-5-sonnet-20240620", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("gemini-1.5-pro", "gemini-1.5-pro-002"),
    ("models/gemini-1.5-pro", "gemini-1.5-pro-002"),
    ("mistral-large-latest", "mistral-large-2407"),
    ("openai/gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o", None),
])
def test_snapshots_and_aliases_are_not_substitutions(requested, served):
    assert is_substitution(requested, served) is False


@pytest.mark.parametrize("requested, served", [
    ("gpt-4o", "gpt-4o-mini"),
    ("gpt-4o", "gpt-4o-mini-2024-07-18"),
    ("gpt-4", "gpt-4o"),
    ("claude-opus-4", "claude-sonnet-4-20250514"),
    ("gpt-4o", "anthropic/claude-3.5-sonnet"),
])
def test_another_model_is_a_substitution(requested, served):
    assert is_substitution(requested, served) is True


@pytest.mark.parametrize("patterns, provider, model, expected", [
    (("gpt-4o",), "openai", "gpt-4o-2024-08-06", True),
    (("openai/gpt-4o",), "openai", "gpt-4o-mini", False),
    (("openai/gpt-4o*",), "openai", "gpt-4o-mini", True),
    (("gpt-4o",), "anthropic", "claude-3-5-sonnet", False),
    (("gpt-4o",), "litellm", "openai/gpt-4o-2024-08-06", True),
    (("openai/gpt-4o",), "litellm", "openai/gpt-4o-2024-08-06", True),
    (("gpt-4o",), "openai", "openai/gpt-4o-mini", False),
    (("claude-*", "gpt-4o"), "anthropic", "claude-3-opus-20240229", True),
    (("gpt-4o",), "openai", None, False),
])
def test_primary_policy_matching(patterns, provider, model, expected):
    assert matches_any(patterns, provider, model) is expected
