#!/bin/bash
while read line
do echo "$line" | jq -c .value  >&3
done
