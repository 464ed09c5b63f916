#!/usr/bin/env bash
# Generate the HTML report from reports/allure-results with the Allure 3 CLI pinned in
# package.json: reports/allure-report/ (interactive), reports/opsverify-report-<env>.html
# (single file for auditors, analytics stripped) and the environment's history
# (reports/history/<env>.jsonl, trends). Extra arguments go to `python -m opsverify.report`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/allure ]; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --silent
  else
    echo "report: npm not found: install Node.js to build the HTML report;" \
         "raw results are in reports/allure-results" >&2
    exit 1
  fi
fi
exec .venv/bin/python -m opsverify.report "$@"
