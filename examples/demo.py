"""Chat with an agent: here the fake agent embedded in agentchat, so no account or network
is needed. Point ``AsyncAgentClient`` at a real agent by setting ``$AGENT_ENDPOINT`` and
``$AGENT_ACCESS_KEY`` and dropping the server.

    python examples/demo.py "What is the capital of Portugal?"
"""

from __future__ import annotations

import asyncio
import sys

from agentchat import AsyncAgentClient
from agentchat.testing import FakeAgentServer


async def main(question: str) -> None:
    async with FakeAgentServer() as server:
        print(f"fake agent listening on {server.url}")
        async with AsyncAgentClient(token=server.token, agent_endpoint=server.url) as client:
            completion = await client.agent.chat.completions.create(
                model="llama3.3-70b-instruct",
                messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": question},
                ],
            )
            print(f"> {question}")
            print(completion.choices[0].message.content)
            info = completion.response
            assert info is not None
            print(
                f"[HTTP {info.status}, request id {info.request_id}, "
                f"{info.rate_limit.remaining}/{info.rate_limit.limit} requests left, "
                f"usage {completion.usage}]"
            )


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What is the capital of Portugal?"))
