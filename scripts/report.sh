#!/usr/bin/env bash
# Generate the HTML report from reports/allure-results (Allure CLI pinned in package.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x node_modules/.bin/allure ]; then
  node_modules/.bin/allure generate reports/allure-results -o reports/allure-report >/dev/null
  echo "report: reports/allure-report/index.html"
else
  echo "report: Allure CLI not installed (npm); raw results are in reports/allure-results"
fi
