#!/bin/bash
while read line
do
    echo "hello stdout"
    echo "hello stderr" >&2
    echo "$line" | jq -c .value >&3
done
