#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/stop-all.sh in the tests' archive (tools/build-spark-archive): as Apache's, it
# stops the workers of the workers file (sbin/stop-workers.sh), then the master on this host (sbin/stop-master.sh);
# with --wait, until no worker process is left on those hosts.
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
"$SPARK_HOME/sbin/stop-workers.sh"
"$SPARK_HOME/sbin/stop-master.sh"
if [ "$1" = "--wait" ]; then
  printf "Waiting for workers to shut down..."
  while "$SPARK_HOME/sbin/workers.sh" ps -ef | grep -v grep | grep -q deploy.worker.Worker; do
    printf "."
    sleep 10
  done
  printf "\nAll workers successfully shut down.\n"
fi
