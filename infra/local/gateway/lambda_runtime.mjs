// A local Lambda worker for Node.js handlers: `node lambda_runtime.mjs HANDLER [CODE_PATH]`.
//
// The Node.js twin of lambda_runtime.py, speaking the same protocol with
// infra/local/gateway/lambdas.py: one {"ready": ...} line after the init phase, then one
// JSON answer line per JSON request line read from stdin, on the original stdout. The
// handler's console output goes to stderr (the function's log), so it can never corrupt
// the protocol.
//
// Request:  {"event": ..., "request_id": "...", "deadline_ms": epoch_ms}
// Response: {"ok": true, "result": ...} or
//           {"ok": false, "errorType": "...", "errorMessage": "...", "stackTrace": [...]}
//
// Modules resolve as on Lambda: HANDLER "src/app.handler" is src/app.js, .mjs or .cjs under
// CODE_PATH; .mjs (or .js under "type": "module") is ECMAScript, the rest CommonJS. Both
// load through import(), which gives CommonJS exports as named exports.
//
// Bare imports that plain resolution cannot find are looked up in the NODE_PATH folders
// too, for ECMAScript modules as well as CommonJS (Node itself reads NODE_PATH only for
// require): that is where layers' nodejs/node_modules are, as /opt/nodejs/node_modules
// is on Lambda, and where a local copy of the AWS SDK v3 can be put (Lambda preinstalls
// it; locally: the function's own node_modules, a layer, or NODE_PATH=$(npm root -g)).
import fs from "node:fs";
import { register } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const EXTRA_DIRS = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean);
if (EXTRA_DIRS.length && typeof register === "function") {
  // Resolving from a file inside DIR makes Node search DIR's parent's node_modules,
  // i.e. DIR itself when DIR is a node_modules folder (how layers are laid out).
  const hooks = `
    import path from "node:path";
    import { pathToFileURL } from "node:url";
    const dirs = ${JSON.stringify(EXTRA_DIRS)};
    export async function resolve(specifier, context, next) {
      try {
        return await next(specifier, context);
      } catch (error) {
        const bare = !/^[./]/.test(specifier) && !specifier.includes(":");
        if (!bare || error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
        for (const dir of dirs) {
          const parentURL = pathToFileURL(path.join(dir, "tickwire-resolve.mjs")).href;
          try {
            return await next(specifier, { ...context, parentURL });
          } catch {}
        }
        throw error;
      }
    }`;
  register("data:text/javascript," + encodeURIComponent(hooks));
}

// fd 1 itself: the handler's console output is moved off it below.
const PROTOCOL_FD = 1;
// Everything the handler prints goes to stderr, like Lambda's log stream.
process.stdout.write = process.stderr.write.bind(process.stderr);

function send(message) {
  fs.writeSync(PROTOCOL_FD, JSON.stringify(message) + "\n");
}

function failure(error, type) {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    ok: false,
    errorType: type || err.name || "Error",
    errorMessage: err.message,
    stackTrace: String(err.stack || "").split("\n").slice(1).map((l) => l.trim()),
  };
}

async function loadHandler(spec, codePath) {
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { name: "Runtime.MalformedHandlerName" });
  }
  const modulePath = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const base = path.resolve(codePath || process.cwd(), modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${modulePath}'`), {
      name: "Runtime.ImportModuleError",
    });
  }
  const loaded = await import(pathToFileURL(file).href);
  const handler = loaded[name] ?? loaded.default?.[name];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), {
      name: "Runtime.HandlerNotFound",
    });
  }
  return handler;
}

function makeContext(requestId, deadlineMs) {
  const env = process.env;
  const region = env.AWS_REGION || "us-east-1";
  const account = env.TICKWIRE_LAMBDA_ACCOUNT_ID || "000000000000";
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME || "";
  return {
    awsRequestId: requestId,
    functionName,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME || "",
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME || "",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
  };
}

// Callback handlers (three parameters) answer through the callback, async ones through
// their promise; a sync handler's plain return value counts too.
function run(handler, event, context) {
  return new Promise((resolve, reject) => {
    const callback = (error, result) => (error ? reject(error) : resolve(result));
    context.done = callback;
    context.succeed = (result) => resolve(result);
    context.fail = (error) => reject(error);
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") {
        returned.then(resolve, reject);
      } else if (handler.length < 3) {
        resolve(returned);
      }
    } catch (error) {
      reject(error);
    }
  });
}

async function main() {
  const [spec, codePath] = process.argv.slice(2);
  if (codePath) process.chdir(codePath); // LAMBDA_TASK_ROOT is the working directory
  let handler = null;
  let initError = null;
  try {
    handler = await loadHandler(spec, codePath);
  } catch (error) {
    initError = failure(error, error?.name?.startsWith("Runtime.") ? error.name : "Runtime.ImportModuleError");
  }
  send(initError ? { ready: false, error: initError } : { ready: true });
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    if (!handler) {
      send(initError);
      continue;
    }
    const context = makeContext(request.request_id, Number(request.deadline_ms));
    let answer;
    try {
      const result = await run(handler, request.event, context);
      answer = { ok: true, result: result === undefined ? null : result };
      JSON.stringify(answer); // a result that cannot be serialised is Lambda's marshal error
    } catch (error) {
      answer = error instanceof TypeError && answer ? failure(error, "Runtime.MarshalError") : failure(error);
    }
    send(answer);
  }
}

process.on("unhandledRejection", (error) => {
  console.error("unhandled rejection:", error);
});

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
