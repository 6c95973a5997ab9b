// Node.js 20 `fetch` against `router proxy`, in both formats, one of them streamed.
//
// Run it against a running proxy:   router proxy &  node examples/node_fetch.mjs
// or let the shim start one for it: router shim -- node examples/node_fetch.mjs
// (the shim sets OPENAI_BASE_URL / ANTHROPIC_BASE_URL for non-Python programs)

const openaiBase = process.env.OPENAI_BASE_URL ?? "http://127.0.0.1:3456/v1";
const anthropicBase = process.env.ANTHROPIC_BASE_URL ?? "http://127.0.0.1:3456";
const question = [{ role: "user", content: "What is the weather in Paris?" }];

async function post(url, headers, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}: ${await response.text()}`);
  return response;
}

// OpenAI chat completions for a Claude model.
const chat = await post(`${openaiBase}/chat/completions`, {}, { model: "claude-sonnet-4-6", messages: question });
console.log("openai format:", (await chat.json()).choices[0].message.content);

// Anthropic messages for an OpenAI model, streamed: print text deltas as they arrive.
const stream = await post(`${anthropicBase}/v1/messages`, { "anthropic-version": "2023-06-01" },
  { model: "gpt-5.1", max_tokens: 300, stream: true, messages: question });
const decoder = new TextDecoder();
let buffer = "";
let text = "";
for await (const bytes of stream.body) {
  buffer += decoder.decode(bytes, { stream: true });
  const events = buffer.split("\n\n");
  buffer = events.pop();
  for (const event of events) {
    const data = event.split("\n").find((line) => line.startsWith("data: "));
    const payload = data ? JSON.parse(data.slice(6)) : null;
    if (payload?.type === "content_block_delta" && payload.delta.type === "text_delta") text += payload.delta.text;
  }
}
console.log("anthropic format (streamed):", text);
