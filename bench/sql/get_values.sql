-- Copied from the queries of shared/src/db (users::find_in_session, kpis::SELECT,
-- kpi_values::list/insert, DASHBOARD_VISIBLE); keep in step with them.
-- Parameters the API binds as NULL (no range, no cursor) are literal nulls
-- here; ids come from the bench_kpi / bench_dashboard lookup tables.
-- GET /kpis/{id}/values: auth extractor, kpi_values::list (visibility inside, limit 100 + 1)
\set n random(1, :kpis)
select id, organization_id, email, full_name, role, is_active, created_at, updated_at from app_user u where u.id = :uid and exists (select 1 from refresh_token t where t.family_id = :sid and t.user_id = u.id) and not exists (select 1 from refresh_token t where t.family_id = :sid and t.revoked_at is not null);
select id, kpi_id, organization_id, period_start, period_end, value, status, critical, threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id, created_at, updated_at from kpi_value where kpi_id = (select id from bench_kpi where n = :n) and exists (select 1 from kpi k join dashboard d on d.id = k.dashboard_id where k.id = (select id from bench_kpi where n = :n) and d.organization_id = :org and (:admin or d.owner_id = :uid or (d.team_id is null and not d.is_private) or exists (select 1 from team_member tm where tm.team_id = d.team_id and tm.user_id = :uid))) and (null::date is null or period_end >= null::date) and (null::date is null or period_start <= null::date) and (null::date is null or period_start < null::date) order by period_start desc limit 101;
