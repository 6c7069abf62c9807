#!/usr/bin/env bash
# Installs the system programs the local stack needs, from Debian's packages, when they are missing:
# a JDK 17+ (Kafka, Connect, the registry), Maven (resolves their jars from Maven Central),
# PostgreSQL 15 and Prometheus. Python packages come from pyproject.toml; jars from infra/**/pom.xml.
set -euo pipefail

need=()
have_java() {
  for j in "${JAVA_HOME:-}/bin/java" "$(command -v java || true)"; do
    [ -x "$j" ] || continue
    v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    [ "${v:-0}" -ge 17 ] && return 0
  done
  return 1
}
have_java || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql-15 postgresql-client-15)
command -v pg_dump >/dev/null || need+=(postgresql-client-15)
command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v setpriv >/dev/null || need+=(util-linux)
command -v python3.11 >/dev/null || need+=(python3.11 python3.11-venv)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package maintainer scripts must not start services here: the project starts its own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.automate
if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.automate /usr/sbin/policy-rc.d; added_policy=1; fi
rm -f /usr/sbin/policy-rc.d.automate
apt-get update -qq || { echo "error: apt-get update failed: are Debian's package mirrors reachable?" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || { echo "error: apt-get install ${need[*]} failed (see above)" >&2; exit 1; }
[ -n "${added_policy:-}" ] && rm -f /usr/sbin/policy-rc.d
exit 0
