#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/stop-worker.sh in the tests' archive (tools/build-spark-archive): as Apache's,
# it stops the worker that sbin/start-worker.sh started on this host (sbin/spark-daemon.sh and its pid file).
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
. "$SPARK_HOME/bin/load-spark-env.sh"
"$SPARK_HOME/sbin/spark-daemon.sh" stop org.apache.spark.deploy.worker.Worker 1
