"""LiteLLM calling a Claude model and an OpenAI model (plus a stream): the router picks the backend.

Run it (pip install litellm; no key in the code):
    router shim -- python examples/litellm_completion.py
(Offline? LITELLM_LOCAL_MODEL_COST_MAP=True stops LiteLLM fetching its price list at import.)
"""

import litellm

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]

if __name__ == "__main__":
    reply = litellm.completion(model="claude-sonnet-4-6", messages=QUESTION)
    print("claude:", reply.choices[0].message.content)
    reply = litellm.completion(model="gpt-5.1", messages=QUESTION)
    print("gpt:", reply.choices[0].message.content)
    stream = litellm.completion(model="claude-sonnet-4-6", messages=QUESTION, stream=True)
    print("streaming:", "".join(chunk.choices[0].delta.content or "" for chunk in stream))
