// Drives a Toxiproxy API server with the real toxiproxy-node-client, as a Node user would.
//
//   node conformance.js <api url> <echo upstream host:port> <dead upstream host:port>
//
// Prints one JSON line per check, {"check": name, "ok": bool, "detail": string}, and exits
// 0 once every check has run (tests/faultproxy/test_real_clients.py judges the lines).
"use strict";

const net = require("node:net");
const { Toxiproxy } = require("toxiproxy-node-client");

const [url, echo, dead] = process.argv.slice(2);
const toxiproxy = new Toxiproxy(url);

function report(check, ok, detail) {
  console.log(JSON.stringify({ check, ok: Boolean(ok), detail: String(detail ?? "") }));
}

async function check(name, body) {
  try {
    const [ok, detail] = await body();
    report(name, ok, detail);
  } catch (error) {
    report(name, false, `${error.name}: ${error.message}`);
  }
}

async function refused(body) {
  try {
    await body();
    return "accepted";
  } catch (error) {
    return error.message;
  }
}

function splitListen(listen) {
  const at = listen.lastIndexOf(":");
  return [listen.slice(0, at).replace(/^\[|\]$/g, ""), Number(listen.slice(at + 1))];
}

// Send `payload` through `listen`; resolve with what came back, or how the socket ended.
function roundTrip(listen, payload) {
  const [host, port] = splitListen(listen);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let received = "";
    const timer = setTimeout(() => { socket.destroy(); resolve("timeout"); }, 5000);
    socket.on("connect", () => socket.write(payload));
    socket.on("data", (data) => {
      received += data.toString();
      if (received.length >= payload.length) { clearTimeout(timer); socket.end(); resolve(received); }
    });
    socket.on("error", (error) => { clearTimeout(timer); resolve(error.code); });
    socket.on("close", () => { clearTimeout(timer); resolve(received || "closed"); });
  });
}

async function main() {
  await check("version", async () => {
    const text = await toxiproxy.getVersion();
    const version = JSON.parse(text).version;
    return [typeof version === "string" && version.length > 0, version];
  });

  await check("create_get_and_carry_traffic", async () => {
    const proxy = await toxiproxy.createProxy({ name: "echo", listen: "127.0.0.1:0", upstream: echo });
    const again = await toxiproxy.get("echo");
    const all = await toxiproxy.getAll();
    const answer = await roundTrip(again.listen, "hello");
    return [proxy.enabled && again.listen === proxy.listen && "echo" in all && answer === "hello", answer];
  });

  await check("toxic_add_get_update_remove", async () => {
    const proxy = await toxiproxy.get("echo");
    const toxic = await proxy.addToxic({
      name: "slow", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 10, jitter: 2 },
    });
    const fetched = await proxy.getToxic("slow");
    const updated = await fetched.update({ attributes: { latency: 20 }, toxicity: 0.5 });
    await updated.remove();
    const after = (await toxiproxy.get("echo"));
    const left = await refused(() => after.getToxic("slow"));
    return [
      toxic.attributes.latency === 10 && updated.attributes.latency === 20 &&
        updated.attributes.jitter === 2 && updated.toxicity === 0.5 && left.includes("404"),
      JSON.stringify(updated.toJson()),
    ];
  });

  await check("noop_toxic_accepted", async () => {
    const proxy = await toxiproxy.get("echo");
    const toxic = await proxy.addToxic({ type: "noop", stream: "upstream", toxicity: 1, attributes: {} });
    const answer = await roundTrip(proxy.listen, "noop");
    await toxic.remove();
    return [toxic.name === "noop_upstream" && answer === "noop", `${toxic.name} ${answer}`];
  });

  for (const stream of ["up", "down"]) {
    await check(`stream_${stream}_refused`, async () => {
      const proxy = await toxiproxy.get("echo");
      const message = await refused(() => proxy.addToxic({ type: "latency", stream, toxicity: 1, attributes: {} }));
      return [message.includes("400"), message];
    });
  }

  await check("fractional_attribute_refused", async () => {
    // JSON.stringify writes 100.0 as 100, so a Node client can only send a real fraction.
    const proxy = await toxiproxy.get("echo");
    const message = await refused(() => proxy.addToxic({
      type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 100.5 },
    }));
    return [message.includes("400"), message];
  });

  await check("upstream_without_port_accepted", async () => {
    const proxy = await toxiproxy.createProxy({ name: "portless", listen: "127.0.0.1:0", upstream: "127.0.0.1" });
    const answer = await roundTrip(proxy.listen, "x");
    await proxy.remove();
    return [proxy.upstream === "127.0.0.1" && answer !== "x", answer];
  });

  await check("bad_listen_is_500", async () => {
    const message = await refused(() => toxiproxy.createProxy({ name: "bad", listen: "nonsense", upstream: echo }));
    return [message.includes("500"), message];
  });

  await check("populate_duplicate_later_wins", async () => {
    const proxies = await toxiproxy.populate([
      { name: "twice", listen: "127.0.0.1:0", upstream: dead },
      { name: "twice", listen: "127.0.0.1:0", upstream: echo },
    ]);
    const kept = await toxiproxy.get("twice");
    const answer = await roundTrip(kept.listen, "later");
    await kept.remove();
    return [proxies.twice.upstream === echo && kept.upstream === echo && answer === "later", answer];
  });

  await check("populate_missing_upstream_is_400", async () => {
    const message = await refused(() => toxiproxy.populate([{ name: "nothing" }]));
    return [message.includes("400"), message];
  });

  await check("disable_refuses_then_reset_enables", async () => {
    const proxy = await toxiproxy.get("echo");
    const disabled = await proxy.update({ enabled: false });
    const whileDown = await roundTrip(proxy.listen, "down");
    await toxiproxy.reset();
    const enabled = (await toxiproxy.get("echo")).enabled;
    return [!disabled.enabled && whileDown === "ECONNREFUSED" && enabled, whileDown];
  });

  await check("reset_peer_gives_econnreset", async () => {
    const proxy = await toxiproxy.get("echo");
    const toxic = await proxy.addToxic({ type: "reset_peer", stream: "upstream", toxicity: 1, attributes: { timeout: 0 } });
    const answer = await roundTrip(proxy.listen, "reset me");
    await toxic.remove();
    return [answer === "ECONNRESET", answer];
  });

  await check("errors_are_plain_text_json_with_request_id", async () => {
    const response = await fetch(`${url}/proxies/missing`);
    const body = await response.text();
    const id = response.headers.get("x-toxiproxy-request-id") || "";
    return [
      response.status === 404 && response.headers.get("content-type") === "text/plain; charset=utf-8" &&
        JSON.parse(body).error === "proxy not found" && /^[0-9a-v]{20}$/.test(id),
      `${response.headers.get("content-type")} ${id} ${body.trim()}`,
    ];
  });

  await check("remove_proxy", async () => {
    await (await toxiproxy.get("echo")).remove();
    const all = await toxiproxy.getAll();
    return [Object.keys(all).length === 0, Object.keys(all).join(",")];
  });
}

main().then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });
