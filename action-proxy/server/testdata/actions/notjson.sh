#!/bin/bash
read line
echo '"not json"' >&3
read line
