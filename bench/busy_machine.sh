#!/bin/bash
# Two audits sharing one machine vs one alone (issue 15, point 5).
# usage: bash bench/busy_machine.sh [ENV=VALUE ...]   e.g. OMP_WAIT_POLICY=ACTIVE for libgomp's default
# Prints the wall seconds of one audit alone, then of each of two started together.
cd "$(dirname "$0")/.."
A=".venv/bin/memlens audit --dataset fashion-mnist:4000 --models 16 --epochs 20 --precision float32 --no-progress"
run() { rm -rf ${TMPDIR:-/tmp}/memlens-busy-$1; /usr/bin/time -f "%e" env "${@:2}" $A --out ${TMPDIR:-/tmp}/memlens-busy-$1 > /dev/null 2>${TMPDIR:-/tmp}/memlens-busy-$1.time; tail -1 ${TMPDIR:-/tmp}/memlens-busy-$1.time; }
echo "solo: $(run s "$@")"
run a "$@" > ${TMPDIR:-/tmp}/memlens-busy-a.out & run b "$@" > ${TMPDIR:-/tmp}/memlens-busy-b.out & wait
echo "pair: $(cat ${TMPDIR:-/tmp}/memlens-busy-a.out) $(cat ${TMPDIR:-/tmp}/memlens-busy-b.out)"
