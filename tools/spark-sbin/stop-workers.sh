#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/stop-workers.sh in the tests' archive (tools/build-spark-archive): as Apache's,
# it runs sbin/stop-worker.sh on every host of the workers file, through sbin/workers.sh.
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
. "$SPARK_HOME/bin/load-spark-env.sh"
"$SPARK_HOME/sbin/workers.sh" cd "$SPARK_HOME" \; "$SPARK_HOME/sbin/stop-worker.sh"
