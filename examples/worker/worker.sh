#!/usr/bin/env bash
# A background worker: does a unit of work every INTERVAL_SECONDS and stops cleanly on
# SIGINT or SIGTERM (eco sends SIGINT, then SIGKILL after kill_timeout).
set -u
interval="${INTERVAL_SECONDS:-5}"
running=1
sleeper=
trap 'running=0; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null' INT TERM

echo "worker (pid $$) started, one job every ${interval}s"
jobs_done=0
while [ "$running" = 1 ]; do
  jobs_done=$((jobs_done + 1))
  echo "job ${jobs_done} done at $(date -u +%H:%M:%S)"
  # sleep in the background and wait, so a signal interrupts the wait at once.
  sleep "$interval" &
  sleeper=$!
  wait "$sleeper" 2>/dev/null
done
echo "worker stopping after ${jobs_done} jobs"
