// A Node.js client (Node 20's global fetch): POST a streaming request, print each chunk as it arrives.
// usage: node node_stream_client.mjs URL JSON_BODY   → prints the concatenated body, then "STATUS <n>" on stderr
const [url, body] = process.argv.slice(2);
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", "authorization": "Bearer router-client-placeholder",
             "anthropic-version": "2023-06-01" },
  body,
});
process.stderr.write(`STATUS ${response.status}\n`);
const decoder = new TextDecoder();
for await (const chunk of response.body) {
  process.stdout.write(decoder.decode(chunk, { stream: true }));
}
