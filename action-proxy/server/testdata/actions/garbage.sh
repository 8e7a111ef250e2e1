#!/bin/bash
while read line
do echo 'this is not json at all' >&3
done
