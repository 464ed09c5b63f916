#!/usr/bin/env bash
# One scheduled verification run (used by cron.opsverify): opsverify-run.sh daily|weekly|monthly
# Secrets for the inventory come from a root-only env file; the bundle signing key from a
# root-only key file. Findings make pytest exit 1; the HTML report is rebuilt either way.
set -uo pipefail
schedule=${1:?usage: opsverify-run.sh daily|weekly|monthly}
cd /opt/opsverify
set -a; . /etc/opsverify/production.env; set +a
OPSVERIFY_SIGNING_KEY="$(cat /etc/opsverify/signing.key)"; export OPSVERIFY_SIGNING_KEY
.venv/bin/pytest -m "$schedule" --env production --bundle \
  --metrics-file /var/lib/node_exporter/textfile/opsverify.prom
status=$?
make report >/dev/null
exit $status
