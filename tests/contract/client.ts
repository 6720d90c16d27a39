// A few calls of the kpix API through a client typed from the document the
// API serves: tests/contract/run.sh generates generated/api.d.ts with
// openapi-typescript, then `tsc --noEmit` checks this file. Should the
// document lose a filter, move it out of the query, or loosen a type, this
// stops compiling (each @ts-expect-error below must still be an error).
import createClient from "openapi-fetch";

import type { components, paths } from "./generated/api";

type Schemas = components["schemas"];
type Client = ReturnType<typeof createClient<paths>>;

export function kpixClient(origin: string, token: string): Client {
  return createClient<paths>({
    baseUrl: `${origin}/api/v1`,
    headers: { Authorization: `Bearer ${token}` },
  });
}

/** Errors are RFC 9457 problems with a stable code and the invalid fields. */
function fail(problem: Schemas["Problem"]): never {
  const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
  throw new Error(`${problem.status} ${problem.code}: ${[problem.detail, ...fields].join("; ")}`);
}

/** The values of the first quarter of 2025, newest period first. */
export async function firstQuarter(client: Client, kpiId: string): Promise<Schemas["ValueRow"][]> {
  const { data, error } = await client.GET("/kpis/{id}/values", {
    params: { path: { id: kpiId }, query: { from: "2025-01-01", to: "2025-03-31", limit: 100 } },
  });
  if (error) fail(error);
  return data;
}

/** The dashboards of one process, whatever the case and accents typed. */
export async function dashboardsOf(client: Client, process: string): Promise<string[]> {
  const { data, error } = await client.GET("/dashboards", {
    params: { query: { process_name: process } },
  });
  if (error) fail(error);
  return data.map((d) => `${d.title}: ${d.worst_status ?? "no value"}`);
}

/** The five KPIs most at risk. */
export async function topRisks(client: Client): Promise<Schemas["KpiSnapshot"][]> {
  const { data, error } = await client.GET("/reporting/top-risks", {
    params: { query: { limit: 5 } },
  });
  if (error) fail(error);
  return data.items;
}

/** Enters March's value; a second one for March is a 409 problem. */
export async function enterMarch(client: Client, kpiId: string, value: number): Promise<Schemas["ValueRow"]> {
  const { data, error } = await client.POST("/kpis/{id}/values", {
    params: { path: { id: kpiId } },
    body: { period_start: "2025-03-01", value, comment: null },
  });
  if (error) fail(error);
  const status: "GREEN" | "ORANGE" | "RED" = data.status;
  console.log(`${data.period_start}..${data.period_end}: ${data.value} ${status}`);
  return data;
}

/** Marks an action done (its progress becomes 100) and clears its due date. */
export async function finish(client: Client, actionId: string): Promise<number> {
  const { data, error } = await client.PATCH("/actions/{id}", {
    params: { path: { id: actionId } },
    body: { status: "DONE", due_date: null },
  });
  if (error) fail(error);
  return data.progress;
}

/** What the document forbids, the compiler refuses. */
export function refused(client: Client, kpiId: string): void {
  void client.POST("/kpis/{id}/values", {
    params: { path: { id: kpiId } },
    // @ts-expect-error a number is a JSON number, never a string
    body: { period_start: "2025-03-01", value: "12.5" },
  });
  void client.GET("/kpis/{id}/values", {
    // @ts-expect-error the values list has no such filter
    params: { path: { id: kpiId }, query: { sort: "period" } },
  });
  void client.PATCH("/kpis/{id}", {
    params: { path: { id: kpiId } },
    // @ts-expect-error a KPI's name cannot be cleared
    body: { name: null },
  });
  void client.GET("/reporting/top-risks", {
    // @ts-expect-error limit is a number
    params: { query: { limit: "5" } },
  });
}
