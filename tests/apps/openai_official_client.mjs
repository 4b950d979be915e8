// OpenAI's official Node client against `ut serve`, as an app built on it would call it: the model list, a chat
// answer constrained by response_format json_schema (parsed and checked against the schema), a tool-call round
// trip (the call, the tool's result sent back, a text answer), a streamed chat with usage, and embeddings in the
// client's default encoding (base64). Any failed check exits 1 and says which.
//
//   node tests/apps/openai_official_client.mjs UT_BINARY OPENAI_PACKAGE_DIR
//
// ctest runs it (apps.openai_official_client) with the synthetic models; scripts/fetch-deps.sh installs the client
// (.deps/node_modules/openai, pinned with its integrity in scripts/deps.lock).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const [utBinary, clientDir] = process.argv.slice(2);
if (!utBinary || !clientDir) {
  console.error("usage: node openai_official_client.mjs UT_BINARY OPENAI_PACKAGE_DIR");
  process.exit(2);
}
if (!fs.existsSync(path.join(clientDir, "package.json"))) {
  console.error(`OpenAI's client is not at ${clientDir}: run scripts/fetch-deps.sh`);
  process.exit(1);
}
const OpenAI = createRequire(import.meta.url)(clientDir);

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "FAILED"}: ${what}${ok || !detail ? "" : ` — ${detail}`}`);
  if (!ok) failures++;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// `ut serve` on a free port with a fresh database; resolves once it printed its "ut serve:" banner.
async function startServer() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ut-openai-client-"));
  const child = spawn(utBinary, ["serve", "--port", String(port), "--db", path.join(dir, "t.duckdb")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("ut serve did not start in 120 s")), 120_000);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("ut serve:")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`ut serve exited (${code}) before it served: ${out}`)));
  });
  return { child, port, dir };
}

const schema = {
  type: "object",
  properties: {
    section: { type: "string", enum: ["libs", "net", "utils"] },
    kind: { type: "string", enum: ["library", "tool"] },
  },
  required: ["section", "kind"],
  additionalProperties: false,
};

const tool = {
  type: "function",
  function: {
    name: "package_info",
    description: "Facts about one Debian package",
    parameters: {
      type: "object",
      properties: { name: { type: "string", enum: ["apt", "dpkg", "bash"] } },
      required: ["name"],
      additionalProperties: false,
    },
  },
};

async function main() {
  const server = await startServer();
  const client = new OpenAI({ apiKey: "unused", baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
  try {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    check(ids.length >= 2 && ids.every((id) => !/\s/.test(id)), "models.list: ids without spaces", ids.join(", "));

    // response_format json_schema: the answer parses and validates.
    const js = await client.chat.completions.create({
      model: "default",
      messages: [{ role: "user", content: "Which section is libssl in?" }],
      response_format: { type: "json_schema", json_schema: { name: "section", schema, strict: true } },
      max_tokens: 48,
      temperature: 0,
    });
    const content = js.choices[0].message.content;
    let parsed = null;
    try {
      parsed = JSON.parse(content);
    } catch (e) {
      check(false, "json_schema: the answer parses", `${e.message}: ${content}`);
    }
    if (parsed) {
      const keys = Object.keys(parsed).sort().join(",");
      check(keys === "kind,section", "json_schema: exactly the schema's properties", content);
      check(schema.properties.section.enum.includes(parsed.section), "json_schema: section from its enum", content);
      check(schema.properties.kind.enum.includes(parsed.kind), "json_schema: kind from its enum", content);
      check(js.choices[0].finish_reason === "stop", "json_schema: finish_reason stop", js.choices[0].finish_reason);
    }

    // Tools: a named tool_choice makes the model call the tool; its result goes back; the model answers in text.
    const messages = [{ role: "user", content: "What is apt?" }];
    const first = await client.chat.completions.create({
      model: "default",
      messages,
      tools: [tool],
      tool_choice: { type: "function", function: { name: "package_info" } },
      max_tokens: 200,  // the grammar-forced call completes well within it (the synthetic vocabulary is small)
      temperature: 0,
    });
    const call = first.choices[0].message.tool_calls?.[0];
    check(first.choices[0].finish_reason === "tool_calls", "tools: finish_reason tool_calls", first.choices[0].finish_reason);
    check(call?.type === "function" && call.function.name === "package_info" && typeof call.id === "string",
          "tools: one call of package_info with an id", JSON.stringify(call));
    let args = null;
    try {
      args = JSON.parse(call?.function.arguments ?? "");
    } catch (e) {
      check(false, "tools: the arguments parse", `${e.message}: ${call?.function.arguments}`);
    }
    if (args) check(tool.function.parameters.properties.name.enum.includes(args.name), "tools: arguments fit the schema",
                    call.function.arguments);
    messages.push(first.choices[0].message);
    messages.push({ role: "tool", tool_call_id: call?.id ?? "", content: JSON.stringify({ section: "admin" }) });
    const second = await client.chat.completions.create({
      model: "default", messages, tools: [tool], tool_choice: "none", max_tokens: 8, temperature: 0,
    });
    check(typeof second.choices[0].message.content === "string" && !second.choices[0].message.tool_calls,
          "tools: the answer after the tool's result is text", JSON.stringify(second.choices[0].message));

    // Streaming with usage: text deltas, then a last chunk with usage and no choices.
    const stream = await client.chat.completions.create({
      model: "default",
      messages: [{ role: "user", content: "Say something." }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 12,
      temperature: 0,
    });
    let text = "";
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices.length) text += chunk.choices[0].delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    check(chunks > 2 && text.length > 0, "stream: text arrives in chunks", `${chunks} chunks, ${JSON.stringify(text)}`);
    check(usage?.completion_tokens === 12 && usage.total_tokens > 12, "stream: usage at the end", JSON.stringify(usage));

    // Embeddings: the client asks for base64 unless told otherwise and decodes it to numbers.
    const emb = await client.embeddings.create({ model: "default", input: ["apt", "dpkg"] });
    const v = emb.data.map((d) => d.embedding);
    check(v.length === 2 && v[0].length > 0 && v[0].length === v[1].length && v[0].every(Number.isFinite),
          "embeddings (base64, the client's default): two vectors of numbers", `${v.map((x) => x.length)}`);
    const norm = Math.sqrt(v[0].reduce((a, x) => a + x * x, 0));
    check(Math.abs(norm - 1) < 1e-3, "embeddings: unit length", String(norm));
    const asFloat = await client.embeddings.create({ model: "default", input: ["apt", "dpkg"], encoding_format: "float" });
    check(asFloat.data[0].embedding.every((x, i) => x === v[0][i]), "embeddings: base64 and float carry the same values");

    // A client's mistake is a 4xx the client raises as such.
    try {
      await client.chat.completions.create({ model: "default", messages: [], max_tokens: 4 });
      check(false, "bad request: an error");
    } catch (e) {
      check(e instanceof OpenAI.BadRequestError && e.status === 400, "bad request: BadRequestError (400)", `${e}`);
    }
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => server.child.once("exit", r));
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
  console.log(failures ? `${failures} check(s) failed` : "all checks passed");
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
