"""The documented path of the LangGraph Agent Server checkpointer (`"path":
"redis_ckpt.agent_server.checkpointer"`); the code is redis_ckpt/integrations/langgraph_server.py."""

from redis_ckpt.integrations.langgraph_server import checkpointer, checkpointer_factory, settings_from_env

__all__ = ["checkpointer", "checkpointer_factory", "settings_from_env"]
