-- kpi_latest.distance is domain::distance_from_green exactly: zero once the
-- green threshold is met (it measured the gap either way, so the green
-- strategic KPIs were ranked best first among "worst first"). Red and orange
-- values keep their distance. tests/tests/rules.rs compares the stored
-- expressions with the Rust functions on random cases.
drop index kpi_latest_risk_idx;
alter table kpi_latest drop column distance;
alter table kpi_latest add column distance numeric generated always as (
    case when (direction = 'UP_IS_BETTER' and value >= threshold_green)
           or (direction = 'DOWN_IS_BETTER' and value <= threshold_green) then 0
         when threshold_green = 0 then abs(value - threshold_green)
         else abs(value - threshold_green) / abs(threshold_green) end) stored;
create index kpi_latest_risk_idx on kpi_latest (organization_id, critical desc, distance desc, name, kpi_id)
    where is_active and status in ('RED', 'ORANGE');
