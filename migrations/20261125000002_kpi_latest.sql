-- The latest and previous value of each KPI (by period_start), kept by
-- statement-level triggers on kpi_value, so that dashboards, KPI lists and
-- reports read one row per KPI instead of probing its values.
create table kpi_latest (
    kpi_id uuid primary key references kpi (id) on delete cascade,
    value_id uuid not null,
    period_start date not null,
    period_end date not null,
    value numeric not null,
    status text not null,
    critical boolean not null,
    threshold_green numeric not null,
    previous_period_start date,
    previous_value numeric,
    previous_status text
);

create function kpi_latest_refresh() returns trigger language plpgsql as $$
begin
    -- serialize writers of the same KPIs: the statements below then take a
    -- snapshot in which every earlier writer has committed
    perform 1 from kpi where id in (select distinct kpi_id from changed) order by id for no key update;
    delete from kpi_latest l
     where l.kpi_id in (select distinct kpi_id from changed)
       and not exists (select 1 from kpi_value v where v.kpi_id = l.kpi_id);
    insert into kpi_latest as l (kpi_id, value_id, period_start, period_end, value, status, critical,
                                 threshold_green, previous_period_start, previous_value, previous_status)
    select t.kpi_id, cur.id, cur.period_start, cur.period_end, cur.value, cur.status, cur.critical,
           cur.threshold_green, prev.period_start, prev.value, prev.status
      from (select distinct kpi_id from changed) t
      cross join lateral (select v.id, v.period_start, v.period_end, v.value, v.status, v.critical, v.threshold_green
                            from kpi_value v where v.kpi_id = t.kpi_id
                           order by v.period_start desc limit 1) cur
      left join lateral (select v.period_start, v.value, v.status
                           from kpi_value v where v.kpi_id = t.kpi_id
                          order by v.period_start desc offset 1 limit 1) prev on true
    on conflict (kpi_id) do update set
        value_id = excluded.value_id, period_start = excluded.period_start, period_end = excluded.period_end,
        value = excluded.value, status = excluded.status, critical = excluded.critical,
        threshold_green = excluded.threshold_green, previous_period_start = excluded.previous_period_start,
        previous_value = excluded.previous_value, previous_status = excluded.previous_status;
    return null;
end
$$;

create trigger kpi_value_latest_insert after insert on kpi_value
    referencing new table as changed for each statement execute function kpi_latest_refresh();
create trigger kpi_value_latest_update after update on kpi_value
    referencing new table as changed for each statement execute function kpi_latest_refresh();
create trigger kpi_value_latest_delete after delete on kpi_value
    referencing old table as changed for each statement execute function kpi_latest_refresh();
