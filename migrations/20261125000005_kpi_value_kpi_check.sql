-- kpi_value.kpi_id keeps its integrity without a foreign key: the per-row
-- check (a lookup and a row lock on kpi for every value) was a quarter of an
-- import's time. A statement-level trigger checks once per statement that the
-- KPIs written exist, and a statement-level trigger on kpi deletes the values
-- of deleted KPIs (the former cascade).
-- Race with a KPI deletion: the check locks the KPI rows. A deletion that
-- comes second waits for the writer and then deletes what it committed; a
-- writer that comes second waits for the deletion and then finds the KPI gone.
alter table kpi_value drop constraint kpi_value_kpi_id_fkey;

create function kpi_value_check_kpi() returns trigger language plpgsql as $$
declare
    missing uuid;
begin
    perform 1 from kpi where id in (select distinct kpi_id from written) order by id for key share;
    select w.kpi_id into missing from (select distinct kpi_id from written) w
     where not exists (select 1 from kpi k where k.id = w.kpi_id) limit 1;
    if missing is not null then
        raise foreign_key_violation using
            message = format('KPI %s does not exist', missing),
            table = 'kpi_value', constraint = 'kpi_value_kpi_id_fkey';
    end if;
    return null;
end
$$;

-- named to fire before the kpi_latest triggers (triggers fire by name)
create trigger kpi_value_check_kpi_insert after insert on kpi_value
    referencing new table as written for each statement execute function kpi_value_check_kpi();
create trigger kpi_value_check_kpi_update after update on kpi_value
    referencing new table as written for each statement execute function kpi_value_check_kpi();

create function kpi_delete_values() returns trigger language plpgsql as $$
begin
    delete from kpi_value v using deleted_kpi d where v.kpi_id = d.id;
    return null;
end
$$;

create trigger kpi_delete_values after delete on kpi
    referencing old table as deleted_kpi for each statement execute function kpi_delete_values();
