#!/bin/sh
# A compiler that fails with about 12 KB of output.
i=0
while [ $i -lt 160 ]
do
  echo "big.sh: error $i: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
  i=$((i+1))
done
