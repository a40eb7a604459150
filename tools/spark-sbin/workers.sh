#!/usr/bin/env bash
# A stand-in for Apache Spark's sbin/workers.sh in the tests' archive (tools/build-spark-archive): the PyPI pyspark
# sdist leaves it out. It takes the same input as Apache's: the command runs over ssh on every host of the workers
# file ($SPARK_WORKERS, else conf/workers, else conf/slaves, else localhost; '#' comments and blank lines skipped),
# with $SPARK_SSH_OPTS from spark-env.sh (Apache's default when it is unset: -o StrictHostKeyChecking=no), each line
# of output prefixed with its host, the hosts in parallel unless SPARK_SSH_FOREGROUND is set.
if [ $# -le 0 ]; then
  echo "Usage: workers.sh [--config <conf-dir>] command..."
  exit 1
fi
export SPARK_HOME="${SPARK_HOME:-$(cd "$(dirname "$0")"/.. && pwd)}"
. "$SPARK_HOME/sbin/spark-config.sh"
if [ "$1" = "--config" ]; then
  if [ ! -d "$2" ]; then
    echo "ERROR : $2 is not a directory"
    exit 1
  fi
  export SPARK_CONF_DIR="$2"
  shift 2
fi
. "$SPARK_HOME/bin/load-spark-env.sh"

if [ -n "$SPARK_WORKERS" ]; then
  hosts=$(cat "$SPARK_WORKERS")
elif [ -f "$SPARK_CONF_DIR/workers" ]; then
  hosts=$(cat "$SPARK_CONF_DIR/workers")
elif [ -f "$SPARK_CONF_DIR/slaves" ]; then
  hosts=$(cat "$SPARK_CONF_DIR/slaves")
else
  hosts=localhost
fi
SPARK_SSH_OPTS=${SPARK_SSH_OPTS:-"-o StrictHostKeyChecking=no"}

for host in $(printf '%s\n' "$hosts" | sed 's/#.*$//;/^[[:space:]]*$/d'); do
  # SPARK_SSH_OPTS is a list of words, as Apache's script splits it.
  # shellcheck disable=SC2086
  if [ -n "$SPARK_SSH_FOREGROUND" ]; then
    ssh $SPARK_SSH_OPTS "$host" "${@// /\\ }" 2>&1 | sed "s/^/$host: /"
  else
    ssh $SPARK_SSH_OPTS "$host" "${@// /\\ }" 2>&1 | sed "s/^/$host: /" &
  fi
  if [ -n "$SPARK_WORKER_SLEEP" ]; then
    sleep "$SPARK_WORKER_SLEEP"
  fi
done
wait
