// The shape a dashboard JSON file in grafana/dashboards/ must have, built from @grafana/schema.
//
// generate.mjs writes generated/<name>.ts as `export const dashboard: CheckedDashboard = <the JSON>;`
// and `tsc --noEmit --strict` checks it. Object literals get TypeScript's excess-property check, so
// a misspelt or unknown key fails as well as a value of the wrong type.
//
// JSON holds the values of @grafana/schema's string enums ("absolute", "timeseries"...), not the
// enum members, so `Lit` turns every string enum into the union of its values.
import type { Dashboard, FieldConfig, FieldConfigSource, Panel, RowPanel } from "@grafana/schema";
import type * as bargauge from "@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as statetimeline from "@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";

export type Lit<T> = T extends string
  ? `${T}`
  : T extends readonly (infer U)[]
    ? Lit<U>[]
    : T extends object
      ? { [K in keyof T]: Lit<T[K]> }
      : T;

/** A query of Grafana's Prometheus data source (the fields driftwatch's dashboards use). */
export interface PromQuery {
  datasource: { type: "prometheus"; uid: string };
  refId: string;
  expr: string;
  editorMode?: "code" | "builder";
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: "time_series" | "table" | "heatmap";
  interval?: string;
  hide?: boolean;
}

type Defaults<Custom> = Lit<Omit<FieldConfig, "custom">> & { custom?: Lit<Custom> };

/** A panel whose options and field config are checked against the panel plugin's own types. */
type TypedPanel<Type extends string, Options, Custom> = Lit<
  Omit<Panel, "type" | "options" | "fieldConfig" | "targets">
> & {
  type: Type;
  options: Lit<Options>;
  fieldConfig: Lit<Omit<FieldConfigSource, "defaults">> & { defaults: Defaults<Custom> };
  targets: PromQuery[];
};

export type DriftwatchPanel =
  | TypedPanel<"timeseries", timeseries.Options, timeseries.FieldConfig>
  | TypedPanel<"stat", stat.Options, Record<string, never>>
  | TypedPanel<"bargauge", bargauge.Options, Record<string, never>>
  | TypedPanel<"state-timeline", statetimeline.Options, statetimeline.FieldConfig>
  | TypedPanel<"table", table.Options, table.FieldConfig>
  | (Lit<Omit<RowPanel, "panels">> & { panels: DriftwatchPanel[] });

/** What Grafana's "Export for sharing externally" adds: the plugins the dashboard needs. */
interface Requirement {
  type: "grafana" | "datasource" | "panel";
  id: string;
  name: string;
  version: string;
}

export type CheckedDashboard = Lit<Omit<Dashboard, "panels">> & {
  panels: DriftwatchPanel[];
  __requires?: Requirement[];
};
