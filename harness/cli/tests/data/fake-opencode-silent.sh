#!/bin/sh
# A stand-in for opencode that answers --version but, asked to serve, never prints its
# listening line: the harness must give up at its start timeout with the cause.
if [ "$1" = "--version" ]; then echo 9.9.9-silent; exit 0; fi
echo "pretending to start"
exec sleep 600
