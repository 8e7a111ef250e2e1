#!/bin/sh
while read a; do echo 1 >&3 ; done
