// ECMAScript module, callback style: the $default route, answering the client; it
// imports a package from its layer (nodejs/node_modules, /opt/nodejs/node_modules on AWS).
import greeting from "greeting";

export function handler(event, context, callback) {
  const ctx = event.requestContext;
  setTimeout(() => {
    callback(null, {
      statusCode: 200,
      body: JSON.stringify({
        echo: event.body,
        routeKey: ctx.routeKey,
        node: process.versions.node,
        greeting: greeting.greet(ctx.connectionId.length > 0 ? "you" : "nobody"),
      }),
    });
  }, 5);
}
