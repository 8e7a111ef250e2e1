#!/bin/bash
while read line
do echo '{"msg":"hello zip"}' >&3
done
