// dashboard.mjs drives a Juju controller (in the tests: the jimm broker)
// with @canonical/jujulib, the Juju dashboard's API client, making the
// calls the dashboard makes, the way it makes them: connect() with the
// facade classes the dashboard lists and the websocket package's W3C
// client, Admin.Login with a username and password, then each facade
// method of the connection object.
//
// Usage: JIMM_JUJULIB_DIR=<dir> node dashboard.mjs <config.json>
//
// JIMM_JUJULIB_DIR is a directory whose node_modules hold jujulib and
// websocket (.ci/tools.sh installs one). The configuration file holds:
//
//   controllerURL  the controller endpoint, "wss://host:port/api"
//   caCertFile     the CA certificate (PEM) that signs the server's
//                  certificate: the TLS connection verifies the server
//                  with it, and the host name against the certificate
//   username, password
//   clientVersion  the client version sent at login ("3.0.0", as the
//                  dashboard sends)
//   createModel    {name, cloud, region}: the model ModelManager.CreateModel
//                  makes
//   model          {uuid, application}: the model of the model connection
//                  (FullStatus, the AllWatcher), which holds application
//   timeoutMs      how long one call, or a wait for a change, may take
//   debug          log every frame on stderr (jujulib's debug option)
//
// Output: one JSON line per step on stdout,
//   {"step","call","ok":true,"ms","result"} or {"step","call","ok":false,"ms","error"}
// where step names the step, call the facade method (Facade.Method) and
// ms the time the call took; a step that cannot run because an earlier
// one failed has "skipped":true. Two steps wait for another client:
// first they print {"step","call","waiting":"model"|"unit"}, then read
// one JSON line on stdin saying what that client made and when,
//   {"uuid","name","sentAtMs","answeredAtMs"}  (a model)
//   {"unit","sentAtMs","answeredAtMs"}         (a unit)
// or {"error"} if it failed. *AtMs are Unix times in milliseconds: when
// the other client sent its request and got its answer. Their step's
// result holds the watcher's delta for that entity and latencyMs, the
// time from that answer to the delta reaching this client (negative when
// the delta came first). The process exits 0 once every step has run,
// whatever their outcome; 2 on a bad configuration.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

// jujulib logs to the console (frames when debug is on, WebSocket errors
// always): stdout carries only the step lines, so the console goes to
// stderr.
for (const level of ["log", "info", "debug", "warn"]) {
  console[level] = (...args) => console.error(...args);
}


// loadConfig reads the configuration file named on the command line.
function loadConfig() {
  const file = process.argv[2];
  try {
    if (!file) throw new Error("no configuration file given");
    const c = JSON.parse(readFileSync(file, "utf8"));
    for (const k of ["controllerURL", "caCertFile", "username", "password", "clientVersion", "createModel", "model"]) {
      if (!c[k]) throw new Error(`no ${k}`);
    }
    c.timeoutMs ??= 10000;
    c.ca = readFileSync(c.caCertFile);
    return c;
  } catch (err) {
    console.error(`dashboard.mjs: configuration ${file}: ${err.message}`);
    process.exit(2);
  }
}

// loadJujulib imports jujulib's client and facade modules and the
// websocket package from JIMM_JUJULIB_DIR, by the module names the
// dashboard imports.
async function loadJujulib() {
  const dir = process.env.JIMM_JUJULIB_DIR;
  if (!dir) {
    console.error("dashboard.mjs: JIMM_JUJULIB_DIR is not set (eval \"$(bash .ci/tools.sh)\" sets it)");
    process.exit(2);
  }
  const require = createRequire(join(dir, "package.json"));
  const load = async (name) => (await import(pathToFileURL(require.resolve(name)).href)).default;
  const facades = "@canonical/jujulib/dist/api/facades/";
  return {
    jujulib: await import(pathToFileURL(require.resolve("@canonical/jujulib")).href),
    W3CWebSocket: require("websocket").w3cwebsocket,
    // The dashboard's list (its generateConnectionOptions), without its
    // own JIMM facade, and with ModelSummaryWatcher, which it does not use.
    facades: await Promise.all(
      ["action", "all-watcher", "annotations", "application", "charms", "client", "cloud", "controller",
        "model-manager", "pinger", "model-summary-watcher"].map((f) => load(facades + f)),
    ),
  };
}

// dashboard runs the steps: a controller connection, then a model
// connection. When a login fails, the steps on its connection fail
// saying so.
async function dashboard() {
  const ctl = await login("controller", config.controllerURL);
  await controllerSteps(ctl);
  ctl?.transport.close();
  const url = config.controllerURL.replace(/\/api$/, `/model/${config.model.uuid}/api`);
  const mdl = await login("model", url);
  await modelSteps(mdl);
  mdl?.transport.close();
}

// login connects to url and logs in, as the dashboard does; its result
// tells the facades (and versions) jujulib chose from the login result.
async function login(where, url) {
  const r = await steps.run(`login-${where}`, "Admin.Login", async () => {
    const juju = await lib.jujulib.connect(url, {
      facades: lib.facades,
      wsclass: verifyingWebSocket(),
      debug: Boolean(config.debug),
      closeCallback: () => {},
    });
    return juju.login({ username: config.username, password: config.password }, config.clientVersion);
  }, connInfo);
  return r.ok ? r.value : null;
}

// verifyingWebSocket is the websocket package's W3C client, verifying the
// server with the configured CA (jujulib makes it with the URL alone).
function verifyingWebSocket() {
  const ca = config.ca;
  return class extends lib.W3CWebSocket {
    constructor(url) {
      super(url, undefined, undefined, undefined, undefined, { tlsOptions: { ca } });
    }
  };
}

// connInfo is what a connection knows after login.
function connInfo(conn) {
  const facades = {};
  for (const f of Object.values(conn.facades)) facades[f.NAME] = f.VERSION;
  const { controllerTag, serverVersion, servers, user } = conn.info;
  return { controllerTag, serverVersion, servers, user, facades };
}

// facade returns the connection's facade object by the name jujulib gives
// it (e.g. "modelManager"), or throws if jujulib made none: the login
// result listed no version of it that jujulib has.
function facade(conn, name) {
  if (!conn) throw new Error("no connection: the login failed");
  const f = conn.facades[name];
  if (!f) throw new Error(`jujulib made no ${name} facade: the login result lists none of its versions`);
  return f;
}

async function controllerSteps(conn) {
  const identity = conn?.info.user?.identity;
  await steps.run("ping-controller", "Pinger.Ping", () => facade(conn, "pinger").ping(null));
  await steps.run("clouds", "Cloud.Clouds", () => facade(conn, "cloud").clouds(null));
  await steps.run("list-models", "ModelManager.ListModels", () => facade(conn, "modelManager").listModels({ tag: identity }));
  await steps.run("list-model-summaries", "ModelManager.ListModelSummaries", () =>
    facade(conn, "modelManager").listModelSummaries({ "user-tag": identity, all: false }));
  const cm = config.createModel;
  const created = await steps.run("create-model", "ModelManager.CreateModel", () =>
    facade(conn, "modelManager").createModel({
      name: cm.name, "owner-tag": identity, "cloud-tag": `cloud-${cm.cloud}`, region: cm.region,
    }));
  if (created.ok) {
    await steps.run("model-info", "ModelManager.ModelInfo", () =>
      facade(conn, "modelManager").modelInfo({ entities: [{ tag: `model-${created.value.uuid}` }] }));
  } else {
    steps.skip("model-info", "ModelManager.ModelInfo", "ModelManager.CreateModel failed");
  }
  await steps.run("controller-config", "Controller.ControllerConfig", () => facade(conn, "controller").controllerConfig(null));
  await steps.run("controller-model-config", "Controller.ModelConfig", () => facade(conn, "controller").modelConfig(null));

  // The model summary watcher of the caller's models: all of them first,
  // then the model another client creates meanwhile.
  const mine = await steps.run("watch-model-summaries", "Controller.WatchModelSummaries", () =>
    facade(conn, "controller").watchModelSummaries(null));
  const w = mine.ok ? new Watcher(summaryWatcherCall(conn), mine.value["watcher-id"]) : null;
  await watcherSteps(w, "summaries", "ModelSummaryWatcher", "Controller.WatchModelSummaries", "model",
    (res, n) => (res.models ?? []).find((m) => m.uuid === n.uuid));

  // Every model, as a controller superuser sees them.
  const all = await steps.run("watch-all-model-summaries", "Controller.WatchAllModelSummaries", () =>
    facade(conn, "controller").watchAllModelSummaries(null));
  const wa = all.ok ? new Watcher(summaryWatcherCall(conn), all.value["watcher-id"]) : null;
  await watcherSteps(wa, "all-summaries", "ModelSummaryWatcher", "Controller.WatchAllModelSummaries", null);
}

async function modelSteps(conn) {
  await steps.run("ping-model", "Pinger.Ping", () => facade(conn, "pinger").ping(null));
  await steps.run("full-status", "Client.FullStatus", () => facade(conn, "client").fullStatus({ patterns: [] }));
  const h = await steps.run("watch-all", "Client.WatchAll", () => facade(conn, "client").watchAll(null));
  const w = h.ok ? new Watcher(allWatcherCall(conn), h.value["watcher-id"]) : null;
  await watcherSteps(w, "all-watcher", "AllWatcher", "Client.WatchAll", "unit",
    (res, n) => (res.deltas ?? []).find((d) => Array.isArray(d) && d[0] === "unit" && d[1] === "change" && d[2]?.name === n.unit));
}

// summaryWatcherCall calls a ModelSummaryWatcher method on watcher id.
// jujulib's generated ModelSummaryWatcherV1 puts its argument in the
// request's params, where a Juju controller does not look: it finds the
// watcher by the request's "id" (as jujulib's AllWatcher does). So the
// call goes through the connection's transport, with the version
// jujulib chose for the facade.
function summaryWatcherCall(conn) {
  return (method, id) => new Promise((resolve, reject) => {
    const version = facade(conn, "modelSummaryWatcher").VERSION;
    conn.transport.write({ type: "ModelSummaryWatcher", request: method, version, id }, resolve, reject);
  });
}

// allWatcherCall calls an AllWatcher method with jujulib's facade, as the
// dashboard does: allWatcher.next({id}).
function allWatcherCall(conn) {
  return async (method, id) => {
    const aw = facade(conn, "allWatcher");
    return method === "Next" ? aw.next({ id }) : aw.stop({ id });
  };
}

// watcherSteps runs a watcher's steps: the first Next (the current state);
// when waitFor is set, a wait for an entity another client makes (see the
// header) until match finds it in a Next's result; Stop; and the Next
// that was pending when Stop was called, which must end.
async function watcherSteps(w, prefix, facadeName, startCall, waitFor, match) {
  const next = `${facadeName}.Next`;
  const stop = `${facadeName}.Stop`;
  const later = [
    ...(waitFor ? [[`${prefix}-next-new-${waitFor}`, next]] : []),
    [`${prefix}-stop`, stop],
    [`${prefix}-next-pending-at-stop`, next],
  ];
  if (!w) {
    for (const [n, c] of [[`${prefix}-next-initial`, next], ...later]) steps.skip(n, c, `${startCall} failed`);
    return;
  }
  const first = await steps.run(`${prefix}-next-initial`, next, () => w.next());
  if (!first.ok) {
    for (const [n, c] of later) steps.skip(n, c, "the first Next failed");
    return;
  }
  w.follow();
  if (waitFor) await steps.waitFor(`${prefix}-next-new-${waitFor}`, next, waitFor, notices, w, match);
  await steps.run(`${prefix}-stop`, stop, () => w.stop());
  await steps.run(`${prefix}-next-pending-at-stop`, next, () => w.pendingAtStop());
}

// Watcher keeps one Next in flight on a server-side watcher once follow
// is called, recording each answer and when it came.
class Watcher {
  constructor(call, id) {
    this.call = call;
    this.id = id;
    this.results = []; // {value, atMs} or {error, atMs}, in order
    this.waiters = [];
    this.issued = 0; // Next calls made by follow
    this.pending = null; // the last of them
    this.stopped = false;
    this.inFlightAtStop = false;
  }

  next() {
    return this.call("Next", this.id);
  }

  // follow issues Next after Next until the watcher stops or a Next fails.
  follow() {
    const one = () => {
      this.issued++;
      this.pending = this.next().then(
        (value) => {
          this.record({ value, atMs: Date.now() });
          if (!this.stopped) one();
        },
        (err) => this.record({ error: err.message ?? String(err), atMs: Date.now() }),
      );
    };
    one();
  }

  record(r) {
    this.results.push(r);
    for (const wake of this.waiters.splice(0)) wake();
  }

  // changed resolves when an answer after the first n arrives.
  changed(n) {
    if (this.results.length > n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop() {
    this.stopped = true;
    this.inFlightAtStop = this.issued > this.results.length;
    return this.call("Stop", this.id);
  }

  // pendingAtStop resolves once the Next that was in flight when Stop was
  // called has been answered, saying how: a stopped watcher's pending Next
  // ends (a Juju controller answers it with an error), it does not hang.
  async pendingAtStop() {
    if (!this.inFlightAtStop) return { inFlight: false };
    await this.pending;
    const r = this.results[this.issued - 1];
    return r.error !== undefined ? { inFlight: true, error: r.error } : { inFlight: true, changes: r.value };
  }
}

// Steps runs the steps and prints their lines.
class Steps {
  constructor(timeoutMs) {
    this.timeoutMs = timeoutMs;
  }

  emit(line) {
    process.stdout.write(JSON.stringify(line) + "\n");
  }

  // run runs fn as step (its answer within the timeout), prints its line
  // with show(answer) as the result, and returns {ok, value: answer}.
  async run(step, call, fn, show = (v) => v) {
    const start = performance.now();
    try {
      const value = await withTimeout(Promise.resolve().then(fn), this.timeoutMs, `${call}: no answer within ${this.timeoutMs} ms`);
      this.emit({ step, call, ok: true, ms: elapsed(start), result: show(value) ?? null });
      return { ok: true, value };
    } catch (err) {
      this.emit({ step, call, ok: false, ms: elapsed(start), error: err?.message ?? String(err) });
      return { ok: false };
    }
  }

  skip(step, call, why) {
    this.emit({ step, call, ok: false, skipped: true, error: `not run: ${why}` });
  }

  // waitFor asks the test for a model or unit (printing the waiting line),
  // reads what it made from stdin, and waits until an answer of w's Next
  // holds it (match), within the timeout of the notice.
  async waitFor(step, call, what, notices, w, match) {
    const start = performance.now();
    const fail = (error) => this.emit({ step, call, ok: false, ms: elapsed(start), error });
    this.emit({ step, call, waiting: what });
    let notice;
    try {
      notice = await withTimeout(notices.next(), this.timeoutMs, `no notice of the new ${what} on stdin within ${this.timeoutMs} ms`);
    } catch (err) {
      return fail(err.message);
    }
    if (notice.error) return fail(`the other client did not make the ${what}: ${notice.error}`);
    const deadline = Date.now() + this.timeoutMs;
    for (let i = 0; ; i++) {
      while (i >= w.results.length) {
        const left = deadline - Date.now();
        if (left <= 0) {
          return fail(`no Next answer holds the new ${what} ${JSON.stringify(notice)} within ${this.timeoutMs} ms ` +
            `of its notice; answers: ${JSON.stringify(w.results)}`);
        }
        await Promise.race([w.changed(i), sleep(left)]);
      }
      const r = w.results[i];
      if (r.error !== undefined) return fail(`Next failed while waiting for the new ${what}: ${r.error}`);
      const found = match(r.value, notice);
      if (found) {
        return this.emit({
          step, call, ok: true, ms: elapsed(start),
          result: {
            found, latencyMs: r.atMs - notice.answeredAtMs, sinceRequestMs: r.atMs - notice.sentAtMs,
            deliveredAtMs: r.atMs, notice, answers: w.results.slice(0, i + 1).map((x) => x.value),
          },
        });
      }
    }
  }
}

// Notices are the JSON lines the test writes on stdin.
class Notices {
  constructor() {
    this.lines = [];
    this.waiters = [];
    createInterface({ input: process.stdin }).on("line", (line) => {
      let v;
      try {
        v = JSON.parse(line);
      } catch (err) {
        v = { error: `stdin line ${JSON.stringify(line)} is not JSON: ${err.message}` };
      }
      const w = this.waiters.shift();
      w ? w(v) : this.lines.push(v);
    });
  }

  next() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function withTimeout(p, ms, message) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function elapsed(start) {
  return Math.round(performance.now() - start);
}

// Classes are defined above: run.
const config = loadConfig();
const lib = await loadJujulib();
const steps = new Steps(config.timeoutMs);
const notices = new Notices();
await dashboard();
process.exit(0);
