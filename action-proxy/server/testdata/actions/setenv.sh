#!/bin/bash
# Example_SetEnv: init env values that are not strings arrive JSON-encoded.
while read line
do
  jq -cn --arg a "$a" --arg o "$o" --arg s "$s" --arg n "$n" --arg b "$b" '{a: $a, o: $o, s: $s, n: $n, b: $b}' >&3
done
