-- Copied from the queries of shared/src/db (as of commit 7cec0fb) (users::find_in_session, kpis::SELECT,
-- dashboards::SELECT, kpi_values::list/insert, DASHBOARD_VISIBLE); keep in step
-- with them. Parameters the API binds as NULL (no range, no cursor) are literal
-- nulls here; ids come from the bench_kpi / bench_dashboard lookup tables.
-- POST /kpis/{id}/values: auth extractor, then one transaction: visible_kpi,
-- a savepoint around kpi_values::insert. Request number g of this client is
-- unique: g = c * clients + client_id; its KPI is g mod kpis, its day
-- :start + g / kpis, so every insert is a new (KPI, period) as in the API run.
\set c :c + 1
\set g :c * :clients + :client_id
\set n :g % :kpis + 1
\set day :g / :kpis
select id, organization_id, email, full_name, role, is_active, created_at, updated_at from app_user u where u.id = :uid and exists (select 1 from refresh_token t where t.family_id = :sid and t.user_id = u.id) and not exists (select 1 from refresh_token t where t.family_id = :sid and t.revoked_at is not null);
begin;
select k.id, k.dashboard_id, k.organization_id, k.owner_id, k.code, k.name, k.description, k.unit, k.frequency, k.direction, k.threshold_green, k.threshold_orange, k.threshold_red, k.is_active, k.created_at, k.updated_at, lv.value as latest_value, lv.status as latest_status, lv.period_start as latest_period_start, lv.period_end as latest_period_end, d.owner_id as dashboard_owner_id from kpi k join dashboard d on d.id = k.dashboard_id left join kpi_latest lv on lv.kpi_id = k.id where d.organization_id = :org and (:admin or d.owner_id = :uid or (d.team_id is null and not d.is_private) or exists (select 1 from team_member tm where tm.team_id = d.team_id and tm.user_id = :uid)) and k.id = (select id from bench_kpi where n = :n) for share of k;
savepoint _sqlx_savepoint_1;
insert into kpi_value (id, organization_id, kpi_id, period_start, period_end, value, status, critical, threshold_green, threshold_orange, threshold_red, direction, comment, created_by) values (bench_uuidv7(), :org, (select id from bench_kpi where n = :n), (:start::date + :day::int), (:start::date + :day::int), 55.5, 'ORANGE', false, 80, 50, 20, 'UP_IS_BETTER', null, :uid) returning id, kpi_id, organization_id, period_start, period_end, value, status, critical, threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id, created_at, updated_at;
release savepoint _sqlx_savepoint_1;
commit;
