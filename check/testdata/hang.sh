#!/bin/sh
# Never exits. It starts a child that never exits either and writes the
# child's PID to the file given first; with "ignore-term" second, it
# ignores SIGTERM.
if [ "$2" = ignore-term ]; then
	trap '' TERM
fi
sleep 1000 &
echo $! > "$1"
while :; do
	sleep 1
done
