"""Translation between the Anthropic Messages and OpenAI Chat Completions protocols.

One module per step and direction, named by where the data flows: ``request_openai_to_anthropic``
turns an OpenAI client's request into an Anthropic backend's; ``response_anthropic_to_openai``
and ``stream_anthropic_to_openai`` carry that backend's answer back. Each step is a pure function
(or, for streams, an incremental translator) with its own tests.
"""
