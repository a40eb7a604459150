#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/start-all.sh in the tests' archive (tools/build-spark-archive): as Apache's, it
# starts the master on this host (sbin/start-master.sh), then a worker on every host of the workers file
# (sbin/start-workers.sh).
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
"$SPARK_HOME/sbin/start-master.sh"
"$SPARK_HOME/sbin/start-workers.sh"
