-- Copied from the queries of shared/src/db (users::find_in_session, kpis::SELECT,
-- kpi_values::list/insert, DASHBOARD_VISIBLE); keep in step with them.
-- Parameters the API binds as NULL (no range, no cursor) are literal nulls
-- here; ids come from the bench_kpi / bench_dashboard lookup tables.
-- GET /dashboards/{id}/kpis: auth extractor, kpis::list_by_dashboard (visibility inside, limit 100 + 1)
\set n random(1, :dashboards)
select id, organization_id, email, full_name, role, is_active, created_at, updated_at from app_user u where u.id = :uid and exists (select 1 from refresh_token t where t.family_id = :sid and t.user_id = u.id) and not exists (select 1 from refresh_token t where t.family_id = :sid and t.revoked_at is not null);
select k.id, k.dashboard_id, k.organization_id, k.owner_id, k.code, k.name, k.description, k.unit, k.frequency, k.direction, k.threshold_green, k.threshold_orange, k.threshold_red, k.is_active, k.created_at, k.updated_at, lv.value as latest_value, lv.status as latest_status, lv.period_start as latest_period_start, lv.period_end as latest_period_end, d.owner_id as dashboard_owner_id from kpi k join dashboard d on d.id = k.dashboard_id left join kpi_latest lv on lv.kpi_id = k.id where d.organization_id = :org and (:admin or d.owner_id = :uid or (d.team_id is null and not d.is_private) or exists (select 1 from team_member tm where tm.team_id = d.team_id and tm.user_id = :uid)) and k.dashboard_id = (select id from bench_dashboard where n = :n) and (null::uuid is null or k.id > null::uuid) order by k.id limit 101;
