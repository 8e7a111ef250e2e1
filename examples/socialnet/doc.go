// Package socialnet is the DeathStarBench-style social network example:
// the "compose-post" workflow. A post gets a deterministic 64-bit id (Go),
// then four branches process it in parallel: its text's hashtags, mentions
// and word count (Python), its URLs shortened (Python), its @mentions
// resolved to user ids (Go), and its media validated (Go). The branches'
// results are merged into one object keyed by branch name, from which the
// last step (Python) assembles the post and "stores" it (a content hash:
// there is no database).
//
//	socialnet.yaml      the workflow (wsk-route compose socialnet.yaml)
//	_actions/           the six actions (Python and Go source, stdlib only)
//	post.json           a post to compose
//
// Every branch gets the id step's result and passes the post id through in
// its own result, so that the last step can read it from the merged object.
//
// socialnet_test.go deploys it onto a `wsk-route dev` sandbox exactly as a
// user would (`wsk-route compose`, which creates the actions of the
// workflow file's actions section, then the workflow) and runs it with
// `wsk action invoke`'s REST call, cold and then warm. See README.md for
// the commands.
package socialnet
