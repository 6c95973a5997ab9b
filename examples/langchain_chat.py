"""LangChain chat models across vendors: ChatOpenAI asks a Claude model, ChatAnthropic a GPT model.

Run it (pip install langchain-openai langchain-anthropic; no key in the code):
    router shim -- python examples/langchain_chat.py
"""

from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI

QUESTION = "What is the weather in Paris?"

if __name__ == "__main__":
    print("ChatOpenAI -> claude:", ChatOpenAI(model="claude-sonnet-4-6").invoke(QUESTION).content)
    print("ChatAnthropic -> gpt:", ChatAnthropic(model="gpt-5.1", max_tokens=300).invoke(QUESTION).content)
    pieces = [chunk.content for chunk in ChatOpenAI(model="claude-sonnet-4-6").stream(QUESTION)]
    print("streaming:", "".join(str(piece) for piece in pieces))
