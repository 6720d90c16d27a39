-- KPIs flagged strategic: the direction report lists them (strategic_kpis).
-- kpi_latest keeps a copy, as of the other columns the reports read.
alter table kpi add column is_strategic boolean not null default false;
alter table kpi_latest add column is_strategic boolean not null default false;

create or replace function kpi_latest_add_kpi() returns trigger language plpgsql as $$
begin
    insert into kpi_latest (kpi_id, organization_id, dashboard_id, is_active, is_strategic, name, code, unit,
                            frequency, direction)
    select k.id, k.organization_id, k.dashboard_id, k.is_active, k.is_strategic, k.name, k.code, k.unit,
           k.frequency, k.direction
      from added k;
    return null;
end
$$;

create or replace function kpi_latest_follow_kpi() returns trigger language plpgsql as $$
begin
    update kpi_latest
       set is_active = new.is_active, is_strategic = new.is_strategic, name = new.name, code = new.code,
           unit = new.unit, frequency = new.frequency, direction = new.direction
     where kpi_id = new.id;
    return null;
end
$$;

drop trigger kpi_latest_follow_kpi on kpi;
create trigger kpi_latest_follow_kpi after update on kpi
    for each row
    when ((old.is_active, old.is_strategic, old.name, old.code, old.unit, old.frequency, old.direction)
          is distinct from (new.is_active, new.is_strategic, new.name, new.code, new.unit, new.frequency,
                            new.direction))
    execute function kpi_latest_follow_kpi();

-- the direction's strategic list: few rows per organization, sorted in memory
create index kpi_latest_strategic_idx on kpi_latest (organization_id) where is_active and is_strategic;
