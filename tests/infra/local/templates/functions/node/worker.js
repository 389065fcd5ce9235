// CommonJS, async: the function another function invokes through the Lambda API.
exports.handler = async (event, context) => {
  console.log("worker got", JSON.stringify(event));
  return { doubled: event.n * 2, by: context.functionName, remainingMs: context.getRemainingTimeInMillis() > 0 };
};
