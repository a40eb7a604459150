#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/start-master.sh in the tests' archive (tools/build-spark-archive): as Apache's,
# it starts a master on this host through sbin/spark-daemon.sh (a daemon of its own, with a pid file), on
# SPARK_MASTER_HOST (default this host's name), SPARK_MASTER_PORT (7077) and SPARK_MASTER_WEBUI_PORT (8080).
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
. "$SPARK_HOME/bin/load-spark-env.sh"
SPARK_MASTER_HOST=${SPARK_MASTER_HOST:-$(hostname -f)}
"$SPARK_HOME/sbin/spark-daemon.sh" start org.apache.spark.deploy.master.Master 1 --host "$SPARK_MASTER_HOST" \
  --port "${SPARK_MASTER_PORT:-7077}" --webui-port "${SPARK_MASTER_WEBUI_PORT:-8080}" "$@"
