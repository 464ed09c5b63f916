// Allure 3 configuration for opsverify reports (`make report` / `python -m opsverify.report`).
// Two renderings from one pass, so the history file is appended once per run:
//   awesome/  the interactive report (serve the folder over HTTP: multi-file reports
//             do not load from file://)
//   auditor/  the same report as ONE self-contained HTML file (singleFile), for auditors
// The per-environment history file (trends) and the titles come from the environment set by
// opsverify/report.py; the analytics <script> tags Allure 3 embeds are stripped afterwards.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = process.env.OPSVERIFY_REPORT_ENV || "unknown";

// Allure 3's awesome report takes categories from this config, not from the results'
// categories.json (which the plugin writes for Allure 2 compatibility): translate that file,
// turning Python's inline (?s) flag into a JavaScript RegExp "s" flag.
function categoriesFromResults(dir) {
  const file = dir ? join(dir, "categories.json") : "";
  if (!file || !existsSync(file)) return undefined;
  const toRe = (src) => {
    const dotAll = src.startsWith("(?s)");
    return new RegExp(dotAll ? src.slice(4) : src, dotAll ? "s" : "");
  };
  const rules = JSON.parse(readFileSync(file, "utf-8")).map((c) => {
    const matcher = {};
    if (c.matchedStatuses) matcher.statuses = c.matchedStatuses;
    if (c.messageRegex) matcher.message = toRe(c.messageRegex);
    if (c.traceRegex) matcher.trace = toRe(c.traceRegex);
    return { name: c.name, matchers: matcher };
  });
  return rules.length ? rules : undefined;
}
const categories = categoriesFromResults(process.env.OPSVERIFY_REPORT_RESULTS);
const name = process.env.OPSVERIFY_REPORT_NAME || `opsverify: ${env}`;
const groupBy = ["epic", "feature", "story"];

export default {
  name,
  output: process.env.OPSVERIFY_REPORT_OUT || "reports/allure-report",
  historyPath: process.env.OPSVERIFY_REPORT_HISTORY || `reports/history/${env}.jsonl`,
  historyLimit: 60,
  ...(categories ? { categories } : {}),
  plugins: {
    awesome: { options: { reportName: name, groupBy } },
    auditor: {
      import: "@allurereport/plugin-awesome",
      options: { reportName: `${name} (single file)`, groupBy, singleFile: true },
    },
  },
};
