// ECMAScript module, callback style: the $default route, answering the client.
export function handler(event, context, callback) {
  const ctx = event.requestContext;
  setTimeout(() => {
    callback(null, {
      statusCode: 200,
      body: JSON.stringify({ echo: event.body, routeKey: ctx.routeKey, node: process.versions.node }),
    });
  }, 5);
}
