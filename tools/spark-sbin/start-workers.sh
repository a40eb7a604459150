#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/start-workers.sh in the tests' archive (tools/build-spark-archive): as Apache's,
# it runs sbin/start-worker.sh with the master's URL on every host of the workers file, through sbin/workers.sh.
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
. "$SPARK_HOME/bin/load-spark-env.sh"
SPARK_MASTER_PORT=${SPARK_MASTER_PORT:-7077}
SPARK_MASTER_HOST=${SPARK_MASTER_HOST:-$(hostname -f)}
"$SPARK_HOME/sbin/workers.sh" cd "$SPARK_HOME" \; "$SPARK_HOME/sbin/start-worker.sh" "spark://$SPARK_MASTER_HOST:$SPARK_MASTER_PORT"
