"""The chat workload of issue 8: a tool-calling agent on `MessagesState`, run turn by turn.

Each turn: a ~400-character human message, an AI tool call, a ~1,200-character tool result and a
~800-character answer, through a real `StateGraph` with `durability="sync"` (5 checkpoints per
turn). The text is pseudo-English drawn from a fixed vocabulary with a seeded generator, so it
compresses like prose, and every run writes the same bytes.
"""

from __future__ import annotations

import random
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph

_VOCABULARY = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can out other into what time "
    "about up some them could than then its only new these two may first any like now my such over our even most "
    "made after also did many before must through back years where much your way well down should because each "
    "just those people how too little state good very make world still own see men work long get here between "
    "both life being under never day same another know while last might us great old year off come since against "
    "go came right used take three order query result table weather report city price account server request"
)
_WORDS = _VOCABULARY.split(" ")


def prose(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def build_graph(checkpointer: Any, seed: int = 7, **compile_kwargs: Any) -> Any:
    """The agent: `agent` asks for a tool on a human turn and answers after the tool's result."""
    rng = random.Random(seed)

    def agent(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        n = len(state["messages"])
        if isinstance(last, HumanMessage):
            call = {"name": "search", "args": {"query": prose(rng, 60)}, "id": f"call_{n}"}
            return {"messages": [AIMessage(content="", tool_calls=[call], id=f"ai-{n}")]}
        return {"messages": [AIMessage(content=prose(rng, 800), id=f"ai-{n}")]}

    def tools(state: MessagesState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]  # type: ignore[union-attr]
        n = len(state["messages"])
        return {"messages": [ToolMessage(content=prose(rng, 1200), tool_call_id=call["id"], id=f"tool-{n}")]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer, **compile_kwargs)


def run_turns(graph: Any, thread_id: str, turns: int, seed: int = 11, start: int = 0) -> None:
    rng = random.Random(seed + start)
    config = {"configurable": {"thread_id": thread_id}}
    for turn in range(start, start + turns):
        message = HumanMessage(content=prose(rng, 400), id=f"human-{turn}")
        graph.invoke({"messages": [message]}, config, durability="sync")
