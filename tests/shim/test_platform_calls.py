"""Which requests are keyless OpenAI trace uploads (docs/platform-calls.md), and where they go."""

from shim.config import RouterConfig
from shim.env_names import PLACEHOLDER_API_KEY
from shim.llm_calls import LLMHosts
from shim.platform_calls import TRACE_INGEST, backend_url, forwarded_headers, has_no_key_of_its_own, trace_backend


def test_only_openais_own_trace_path_is_a_platform_call() -> None:
    hosts = LLMHosts(["http://127.0.0.1:9000/v1"])
    assert hosts.endpoint_for_url("https://api.openai.com/v1/traces/ingest") == TRACE_INGEST
    assert hosts.endpoint_for_url("https://API.OpenAI.com./v1/traces/ingest/") == TRACE_INGEST
    assert hosts.endpoint_for_url("http://127.0.0.1:9000/v1/traces/ingest") is None  # a backend's: not OpenAI's
    assert hosts.endpoint_for_url("https://api.groq.com/openai/v1/traces/ingest") is None
    assert hosts.endpoint_for_url("https://api.openai.com/v1/files") is None  # other platform calls: untouched
    assert hosts.endpoint_for_url("https://api.openai.com/v1/chat/completions") == "chat"


def test_the_placeholder_or_no_key_means_the_program_has_none() -> None:
    assert has_no_key_of_its_own({})
    assert has_no_key_of_its_own({"authorization": f"Bearer {PLACEHOLDER_API_KEY}"})
    assert has_no_key_of_its_own({"authorization": f"bearer  {PLACEHOLDER_API_KEY} "})
    assert not has_no_key_of_its_own({"authorization": "Bearer sk-real"})
    assert not has_no_key_of_its_own({"authorization": f"Basic {PLACEHOLDER_API_KEY}"})


def test_the_openai_backend_with_a_key_receives_them() -> None:
    def config(**backend: object) -> RouterConfig:
        table = {"protocol": "openai", "base_url": "https://api.openai.com/v1", **backend}
        return RouterConfig.from_dict({"backends": {"openai": table}})

    keyed = trace_backend(config(api_key="sk-stored"))
    assert keyed is not None and backend_url(keyed, TRACE_INGEST) == "https://api.openai.com/v1/traces/ingest"
    assert trace_backend(config()) is None  # no key: answered locally instead
    assert trace_backend(RouterConfig.from_dict({"backends": {"openai": {
        "protocol": "anthropic", "base_url": "https://x", "api_key": "k"}}})) is None
    assert trace_backend(RouterConfig()) is None


def test_forwarded_headers_drop_credentials_and_framing() -> None:
    headers = {"authorization": "Bearer x", "host": "api.openai.com", "content-length": "3", "openai-beta": "traces=v1",
               "content-type": "application/json", "connection": "keep-alive"}
    assert forwarded_headers(headers) == {"openai-beta": "traces=v1", "content-type": "application/json"}
