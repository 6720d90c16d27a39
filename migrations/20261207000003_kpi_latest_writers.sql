-- Writers of one KPI serialize on its kpi_latest row, not on its kpi row.
--
-- The refresh used to take FOR NO KEY UPDATE on kpi. A value entry holds
-- FOR SHARE on that same row (so that a threshold change never mixes with
-- it): two entries of one KPI each held the share lock and each waited for
-- the other's upgrade, a deadlock. And an import held the kpi rows it wrote
-- until it committed, so an entry waited for the whole import.
--
-- Now the refresh locks only the kpi_latest rows it rewrites (in kpi_id
-- order, so writers of several KPIs cannot deadlock), from the refresh to the
-- end of the transaction: an entry holds it for the moment before its commit.
-- A long writer (an import) sets kpix.latest_deferred for its transaction and
-- refreshes the KPIs it wrote once, just before committing.
create function kpi_latest_refresh_kpis(kpi_ids uuid[]) returns void language plpgsql as $$
begin
    -- wait for earlier writers of these KPIs: the statement below then takes
    -- a snapshot in which they have committed
    perform 1 from kpi_latest where kpi_id = any (kpi_ids) order by kpi_id for no key update;
    -- a KPI being deleted (its values go by cascade) is no longer in kpi
    insert into kpi_latest as l (kpi_id, value_id, period_start, period_end, value, status, critical,
                                 threshold_green, previous_period_start, previous_value, previous_status,
                                 organization_id, dashboard_id, is_active, is_strategic, name, code, unit, frequency,
                                 direction)
    select k.id, cur.id, cur.period_start, cur.period_end, cur.value, cur.status, cur.critical,
           cur.threshold_green, prev.period_start, prev.value, prev.status,
           k.organization_id, k.dashboard_id, k.is_active, k.is_strategic, k.name, k.code, k.unit, k.frequency,
           k.direction
      from kpi k
      left join lateral (select v.id, v.period_start, v.period_end, v.value, v.status, v.critical,
                                v.threshold_green
                           from kpi_value v where v.kpi_id = k.id
                          order by v.period_start desc limit 1) cur on true
      left join lateral (select v.period_start, v.value, v.status
                           from kpi_value v where v.kpi_id = k.id
                          order by v.period_start desc offset 1 limit 1) prev on true
     where k.id = any (kpi_ids)
    on conflict (kpi_id) do update set
        value_id = excluded.value_id, period_start = excluded.period_start, period_end = excluded.period_end,
        value = excluded.value, status = excluded.status, critical = excluded.critical,
        threshold_green = excluded.threshold_green, previous_period_start = excluded.previous_period_start,
        previous_value = excluded.previous_value, previous_status = excluded.previous_status,
        is_active = excluded.is_active, is_strategic = excluded.is_strategic, name = excluded.name, code = excluded.code, unit = excluded.unit,
        frequency = excluded.frequency, direction = excluded.direction;
end
$$;

create or replace function kpi_latest_refresh() returns trigger language plpgsql as $$
begin
    -- the writer refreshes the KPIs it wrote itself before committing
    if current_setting('kpix.latest_deferred', true) = 'on' then
        return null;
    end if;
    perform kpi_latest_refresh_kpis(array(select distinct kpi_id from changed));
    return null;
end
$$;
