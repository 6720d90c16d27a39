-- Reports read kpi_latest alone (docs/reporting.md, Performance): it gets a
-- row for every KPI (the value columns null while the KPI has none), copies
-- of the KPI columns the reports filter, sort and show, the rankings stored,
-- and partial indexes matching each list's ORDER BY ... LIMIT. A list then
-- reads a few index entries instead of joining and sorting every KPI, and a
-- count per dashboard is one index-only scan.
alter table kpi_latest
    alter column value_id drop not null,
    alter column period_start drop not null,
    alter column period_end drop not null,
    alter column value drop not null,
    alter column status drop not null,
    alter column critical drop not null,
    alter column threshold_green drop not null,
    add column organization_id uuid,
    add column dashboard_id uuid,
    add column is_active boolean,
    add column name text,
    add column code text,
    add column unit text,
    add column frequency text,
    add column direction text;

update kpi_latest l
   set organization_id = k.organization_id, dashboard_id = k.dashboard_id, is_active = k.is_active,
       name = k.name, code = k.code, unit = k.unit, frequency = k.frequency, direction = k.direction
  from kpi k
 where k.id = l.kpi_id;

insert into kpi_latest (kpi_id, organization_id, dashboard_id, is_active, name, code, unit, frequency, direction)
select k.id, k.organization_id, k.dashboard_id, k.is_active, k.name, k.code, k.unit, k.frequency, k.direction
  from kpi k
 where not exists (select 1 from kpi_latest l where l.kpi_id = k.id);

alter table kpi_latest
    alter column organization_id set not null,
    alter column dashboard_id set not null,
    alter column is_active set not null,
    alter column name set not null,
    alter column frequency set not null,
    alter column direction set not null,
    -- how far the latest value is from green, relative to it
    -- (domain::distance_from_green)
    add column distance numeric generated always as (
        case when threshold_green = 0 then abs(value)
             else abs(value - threshold_green) / abs(threshold_green) end) stored,
    -- latest minus previous value, positive = better for the KPI's direction
    -- (domain::normalized_delta); null without two values
    add column delta_normalized numeric generated always as (
        case when direction = 'UP_IS_BETTER' then value - previous_value else previous_value - value end) stored,
    -- the trends' ranking: delta_normalized relative to the previous value
    add column trend_rank numeric generated always as (
        case when previous_value = 0
             then case when direction = 'UP_IS_BETTER' then value - previous_value else previous_value - value end
             else (case when direction = 'UP_IS_BETTER' then value - previous_value else previous_value - value end)
                  / abs(previous_value) end) stored;

-- A new KPI gets its row. Its organization and dashboard never change; the
-- other copies follow updates of the KPI.
create function kpi_latest_add_kpi() returns trigger language plpgsql as $$
begin
    insert into kpi_latest (kpi_id, organization_id, dashboard_id, is_active, name, code, unit, frequency, direction)
    select k.id, k.organization_id, k.dashboard_id, k.is_active, k.name, k.code, k.unit, k.frequency, k.direction
      from added k;
    return null;
end
$$;

create trigger kpi_latest_add_kpi after insert on kpi
    referencing new table as added for each statement execute function kpi_latest_add_kpi();

create function kpi_latest_follow_kpi() returns trigger language plpgsql as $$
begin
    update kpi_latest
       set is_active = new.is_active, name = new.name, code = new.code, unit = new.unit,
           frequency = new.frequency, direction = new.direction
     where kpi_id = new.id;
    return null;
end
$$;

create trigger kpi_latest_follow_kpi after update on kpi
    for each row
    when ((old.is_active, old.name, old.code, old.unit, old.frequency, old.direction)
          is distinct from (new.is_active, new.name, new.code, new.unit, new.frequency, new.direction))
    execute function kpi_latest_follow_kpi();

-- As in ..._kpi_latest.sql, but a KPI without values keeps its row (nulls)
-- and the copies are written too. A KPI update takes the same kpi row lock as
-- the first statement here, so it either committed before (and is read here)
-- or waits and then updates the row written here.
create or replace function kpi_latest_refresh() returns trigger language plpgsql as $$
begin
    -- serialize writers of the same KPIs: the statement below then takes a
    -- snapshot in which every earlier writer has committed
    perform 1 from kpi where id in (select distinct kpi_id from changed) order by id for no key update;
    -- a KPI being deleted (its values go by cascade) is no longer in kpi
    insert into kpi_latest as l (kpi_id, value_id, period_start, period_end, value, status, critical,
                                 threshold_green, previous_period_start, previous_value, previous_status,
                                 organization_id, dashboard_id, is_active, name, code, unit, frequency, direction)
    select k.id, cur.id, cur.period_start, cur.period_end, cur.value, cur.status, cur.critical,
           cur.threshold_green, prev.period_start, prev.value, prev.status,
           k.organization_id, k.dashboard_id, k.is_active, k.name, k.code, k.unit, k.frequency, k.direction
      from kpi k
      left join lateral (select v.id, v.period_start, v.period_end, v.value, v.status, v.critical,
                                v.threshold_green
                           from kpi_value v where v.kpi_id = k.id
                          order by v.period_start desc limit 1) cur on true
      left join lateral (select v.period_start, v.value, v.status
                           from kpi_value v where v.kpi_id = k.id
                          order by v.period_start desc offset 1 limit 1) prev on true
     where k.id in (select distinct kpi_id from changed)
    on conflict (kpi_id) do update set
        value_id = excluded.value_id, period_start = excluded.period_start, period_end = excluded.period_end,
        value = excluded.value, status = excluded.status, critical = excluded.critical,
        threshold_green = excluded.threshold_green, previous_period_start = excluded.previous_period_start,
        previous_value = excluded.previous_value, previous_status = excluded.previous_status,
        is_active = excluded.is_active, name = excluded.name, code = excluded.code, unit = excluded.unit,
        frequency = excluded.frequency, direction = excluded.direction;
    return null;
end
$$;

-- Every index leads with the organization (the reports then check the
-- visible dashboards); the rest is a report's grouping or a list's order.
-- counts per dashboard, index-only
create index kpi_latest_dashboard_idx on kpi_latest (organization_id, dashboard_id, status) where is_active;
-- top risks, top red KPIs, red KPIs without action
create index kpi_latest_risk_idx on kpi_latest (organization_id, critical desc, distance desc, name, kpi_id)
    where is_active and status in ('RED', 'ORANGE');
-- latest values
create index kpi_latest_period_end_idx on kpi_latest (organization_id, period_end desc, name, kpi_id)
    where is_active and status is not null;
-- improving and worsening KPIs
create index kpi_latest_improving_idx on kpi_latest (organization_id, trend_rank desc, name, kpi_id)
    where is_active and delta_normalized > 0;
create index kpi_latest_worsening_idx on kpi_latest (organization_id, trend_rank, name, kpi_id)
    where is_active and delta_normalized < 0;
-- open actions by due date, closed ones by closing time
create index action_plan_open_idx on action_plan (organization_id, due_date, id)
    where status in ('OPEN', 'IN_PROGRESS');
create index action_plan_closed_idx on action_plan (organization_id, closed_at desc, id desc)
    where status in ('DONE', 'CANCELLED');

analyze kpi_latest;
