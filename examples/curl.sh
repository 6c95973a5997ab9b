#!/usr/bin/env bash
# curl against `router proxy`: an OpenAI-format call for a Claude model, then an Anthropic-format
# stream for an OpenAI model.
#
# Run it against a running proxy:   router proxy &  bash examples/curl.sh
# or let the shim start one for it: router shim -- bash examples/curl.sh
set -euo pipefail
OPENAI_BASE_URL=${OPENAI_BASE_URL:-http://127.0.0.1:3456/v1}
ANTHROPIC_BASE_URL=${ANTHROPIC_BASE_URL:-http://127.0.0.1:3456}
QUESTION='[{"role": "user", "content": "What is the weather in Paris?"}]'

echo "== OpenAI chat completions, model claude-sonnet-4-6"
curl -sS --fail-with-body "$OPENAI_BASE_URL/chat/completions" \
  -H 'content-type: application/json' \
  -d "{\"model\": \"claude-sonnet-4-6\", \"messages\": $QUESTION}"
echo

echo "== Anthropic messages, model gpt-5.1, streamed"
curl -sS -N --fail-with-body "$ANTHROPIC_BASE_URL/v1/messages" \
  -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
  -d "{\"model\": \"gpt-5.1\", \"max_tokens\": 300, \"stream\": true, \"messages\": $QUESTION}"
