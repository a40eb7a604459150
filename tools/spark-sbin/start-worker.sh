#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/start-worker.sh in the tests' archive (tools/build-spark-archive): as Apache's,
# it starts a worker of the master given as first argument on this host through sbin/spark-daemon.sh (a daemon of
# its own, with a pid file), on SPARK_WORKER_PORT (when set) and SPARK_WORKER_WEBUI_PORT (8081). A worker already
# running outside that pid file makes this one take the next free ports.
if [ $# -lt 1 ]; then
  echo "Usage: ./sbin/start-worker.sh <master> [options]"
  exit 1
fi
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
. "$SPARK_HOME/bin/load-spark-env.sh"
master=$1
shift
"$SPARK_HOME/sbin/spark-daemon.sh" start org.apache.spark.deploy.worker.Worker 1 \
  --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}" ${SPARK_WORKER_PORT:+--port "$SPARK_WORKER_PORT"} "$master" "$@"
