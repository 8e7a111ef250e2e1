// Package parse reads workflow files into the composer model: the
// wsk-route YAML format (YAML, documented in docs/workflows.md, schema in
// docs/workflow.schema.json) and the JSON that openwhisk-composer's
// compose emits (Composer). Both are strict: unknown keys, repeated keys,
// wrong types and constructs wsk-route cannot run are reported, all of
// them, each with its file, line, column and path.
//
// Caller's duties: pass the file name used in messages; the returned
// workflow has already passed composer.Validate without
// Options.ActionExists, so call composer.Validate again with it at deploy
// time. On error the workflow may be partial: use it only to show
// context, never to compile. The parsers never panic, bound their
// recursion (MaxDepth) and stop at the first node past
// composer.MaxSteps or composer.MaxNodes (reported as
// composer.ErrTooLarge; the rest of the file is neither read nor
// validated), so untrusted input is safe to pass.
package parse
