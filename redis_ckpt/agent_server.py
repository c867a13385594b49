"""The LangGraph Agent Server's custom checkpointer (`langgraph dev`, langgraph-api).

In `langgraph.json`:

    "checkpointer": {"backend": "custom", "path": "redis_ckpt.agent_server.checkpointer"}

(a file path works too: `"./checkpointer.py:checkpointer"` with `checkpointer =
checkpointer_factory(...)` in it). The server enters the path's async context manager once per
thread that runs an event loop; every entry shares one process-wide AsyncRedisSaver (it binds to
no loop), which is closed when the last entry exits. The saver implements everything the server
probes for: `adelete_thread`, `adelete_for_runs` (multitask_strategy="rollback"), `acopy_thread`
and `aprune`.

Settings come from keyword arguments or, for the ready-made `checkpointer`, the environment:
`REDIS_CKPT_URL` (else `REDIS_URL`; not `REDIS_URI`, which the server sets for itself),
`REDIS_CKPT_PREFIX` (key prefix, default `checkpoint`) and `REDIS_CKPT_TTL_MINUTES` (optional).

The code is redis_ckpt/integrations/langgraph_server.py; this module only hands its names on.
"""

from redis_ckpt.integrations.langgraph_server import checkpointer, checkpointer_factory, settings_from_env

__all__ = ["checkpointer", "checkpointer_factory", "settings_from_env"]
