// Package chart draws the comparisons the benchmark reports make (a hop
// against its raw baseline, a workflow against a sequence) as SVG bar
// charts, for the docs: one group of bars per row, one bar per series,
// each labelled with its value. No dependency but the standard library.
package chart
