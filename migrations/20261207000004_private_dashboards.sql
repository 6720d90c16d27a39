-- Deleting a team no longer publishes its dashboards. The foreign key set
-- team_id null, and a null team means "shared with the whole organization":
-- a USER outside the team could see them after the deletion. A dashboard
-- whose team is deleted becomes private: visible to its owner and ADMINs
-- only, until its owner shares it again (PATCH team_id).
alter table dashboard
    add column is_private boolean not null default false,
    add constraint dashboard_private_has_no_team check (not (is_private and team_id is not null));

create function team_dashboards_become_private() returns trigger language plpgsql as $$
begin
    update dashboard set is_private = true, team_id = null, updated_at = now() where team_id = old.id;
    return old;
end
$$;

create trigger team_dashboards_become_private before delete on team
    for each row execute function team_dashboards_become_private();
