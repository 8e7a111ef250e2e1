#!/bin/sh
# A compiler that fails by printing (Example_badcompile).
echo "error in stdout"
echo "error in stderr" >&2
