// Package imagepipe is the image pipeline example: a workflow whose
// payloads are MB-sized. ip-split renders a deterministic synthetic image
// from a seed and cuts it into horizontal strips (uncompressed PNGs in
// base64, several MB in all); a map runs ip-filter on the strips, three at
// a time (grayscale, then a Sobel edge detector); ip-stitch draws the
// filtered strips back into one image, in element order, and returns its
// size, the SHA-256 of its pixels and its mean luminance.
//
//	imagepipe.yaml      the workflow (wsk-route compose imagepipe.yaml)
//	_actions/           the three actions (Go source, stdlib only)
//	input.json          the image to render: width, height, chunks, seed
//
// imagepipe_test.go deploys it onto a `wsk-route dev` sandbox exactly as a
// user would (`wsk-route compose`, which creates the actions of the
// workflow file's actions section, then the workflow) and runs it cold and
// then warm, twice. See README.md for the commands.
package imagepipe
