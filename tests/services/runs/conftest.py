"""The fake OpenAI-compatible server of the agent tests, for runs driven through it."""

from tests.agent.conftest import fake_openai

__all__ = ["fake_openai"]
