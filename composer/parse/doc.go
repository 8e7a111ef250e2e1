// Package parse reads workflow files into the composer model: the
// wsk-route YAML format (YAML, documented in docs/workflows.md, schema in
// docs/workflow.schema.json) and the JSON that openwhisk-composer's
// compose emits (Composer). Both are strict: unknown keys, repeated keys
// and wrong types are reported, all of them, each with its file, line,
// column and path; so are the YAML constructs wsk-route cannot run.
// Composer JSON is not translated: every combinator of composer v0.12 is
// accepted as the conductor (package internal/conductor) reads it, and
// the workflow keeps the document as its Composition, with no Root.
//
// Caller's duties: pass the file name used in messages; a YAML workflow
// has already passed composer.Validate without Options.ActionExists, so
// call composer.Validate again with it at deploy time (compile.Compile
// does). A composer JSON workflow has had its name, namespace and
// actions validated the same way, and its composition checked by
// conductor.Decode; compile.Compile checks the actions it names with
// Options.ActionExists. On error the workflow may be partial: use it
// only to show context, never to compile. The parsers never panic and
// bound their recursion (MaxDepth); the YAML reader stops at the first
// node past composer.MaxSteps or composer.MaxNodes (reported as
// composer.ErrTooLarge; the rest of the file is neither read nor
// validated), and composer JSON has the conductor's bounds (its
// conductor.Limits defaults: bytes, combinators, nesting), so untrusted
// input is safe to pass.
package parse
