"""Optional integrations, each behind an extra: OpenTelemetry tracing (otel_tracing), the pytest
plugin (pytest_plugin), the LangGraph Agent Server checkpointer (langgraph_server), the demo
(demo_app) and an embedded Redis for the demo and tests (embedded_redis).

Layer: the top, beside `redis_ckpt.cli`; they may import everything below, the package's public
face (`redis_ckpt`) included, and nothing imports them but the re-export modules that keep their
documented paths (`redis_ckpt.tracing`, `.testing`, `.agent_server`, `.demo`, `.embedded`).
"""
