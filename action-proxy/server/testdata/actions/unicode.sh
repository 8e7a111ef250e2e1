#!/bin/bash
while read line
do
   delimiter="$(echo "$line" | jq -r ".value.delimiter")"
   msg="$delimiter ☃ $delimiter"
   echo "$msg"
   echo "{\"winter\": \"$msg\"}" >&3
done
