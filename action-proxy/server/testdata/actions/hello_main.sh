#!/bin/bash
while read line
do
   name="$(echo $line | jq -r .value.name)"
   if test "$name" == ""
   then exit
   fi
   echo "name=$name"
   hello="Hello, $name"
   echo '{"main":"'$hello'"}' >&3
done
