// Package skeleton runs an action written for OpenWhisk's
// openwhisk/dockerskeleton image, which is what `wsk action create NAME
// FILE --native` makes, behind the wsk-route proxy.
//
// dockerskeleton's proxy starts the action's executable once per
// activation:
//   - the input (a JSON object or array) is the executable's first
//     argument, unless it is longer than Linux's MAX_ARG_STRLEN, and always
//     its standard input;
//   - the activation's other fields are __OW_* environment variables
//     (__OW_ACTIVATION_ID, __OW_DEADLINE, ...);
//   - the working directory is the executable's;
//   - the last line of standard output is the result, which must be a JSON
//     object or array; the rest of the output is the activation's log.
//
// The wsk-route proxy speaks ActionLoop instead, to one process that lives
// as long as the container. When its environment has WSK_ROUTE_SKELETON=1
// (set by the sandbox for the openwhisk/dockerskeleton image, and by a
// route-enabled dockerskeleton image), the proxy starts itself as that
// process (`proxy -skeleton EXEC`), and [Run] adapts one protocol to the
// other: each ActionLoop line runs EXEC once, as dockerskeleton would, and
// its result goes back as one result line. The proxy, its log sentinels
// and the route plane work unchanged.
package skeleton
