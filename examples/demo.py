"""A streaming chat with an agent: here the fake agent embedded in agentchat, so no account
or network is needed. For a real agent, set ``$AGENT_ENDPOINT`` and ``$AGENT_ACCESS_KEY`` and
build the client with ``AsyncAgentClient()`` instead of pointing it at the fake server.

    python examples/demo.py "What is the capital of Portugal?"
"""

from __future__ import annotations

import asyncio
import sys

from agentchat import AsyncAgentClient
from agentchat.testing import FakeAgentServer


async def main(question: str) -> None:
    # stream_delay makes the fake agent pause between tokens, like a real model.
    async with FakeAgentServer(stream_delay=0.05) as server:
        print(f"(fake agent listening on {server.url})")
        async with AsyncAgentClient(token=server.token, agent_endpoint=server.url) as client:
            print(f"> {question}")
            stream = await client.agent.chat.completions.create(
                model="llama3.3-70b-instruct",
                messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": question},
                ],
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for text in stream.text_stream():
                    print(text, end="", flush=True)
                print()
                completion = await stream.get_final_completion()
            info = stream.response
            usage = completion.usage
            print(
                f"[HTTP {info.status}, request id {info.request_id}, "
                f"{info.rate_limit.remaining}/{info.rate_limit.limit} requests left this window, "
                f"{stream.chunks_received} chunks, "
                f"{usage.total_tokens if usage else '?'} tokens]"
            )


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What is the capital of Portugal?"))
