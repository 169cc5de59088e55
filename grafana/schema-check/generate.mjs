// Writes generated/<dashboard>.ts for every grafana/dashboards/*.json, for `tsc` to type-check.
//   node generate.mjs [DASHBOARDS_DIR [OUT_DIR]]   (defaults: ../dashboards and ./generated)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dashboards = resolve(process.argv[2] ?? join(here, "..", "dashboards"));
const out = resolve(process.argv[3] ?? join(here, "generated"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const names = readdirSync(dashboards).filter((name) => name.endsWith(".json")).sort();
if (names.length === 0) {
  console.error(`no dashboards in ${dashboards}`);
  process.exit(1);
}
for (const name of names) {
  const text = readFileSync(join(dashboards, name), "utf8");
  JSON.parse(text); // a syntax error is reported here, with the file name
  const types = relative(out, join(here, "dashboard-types")).split("\\").join("/");
  const source =
    `// Generated from ${name} by generate.mjs; do not edit.\n` +
    `import type { CheckedDashboard } from "${types.startsWith(".") ? types : `./${types}`}";\n\n` +
    `export const dashboard: CheckedDashboard = ${text.trimEnd()};\n`;
  writeFileSync(join(out, name.replace(/\.json$/, ".ts")), source);
  console.log(`${join(out, name.replace(/\.json$/, ".ts"))} <- ${join(dashboards, name)}`);
}
