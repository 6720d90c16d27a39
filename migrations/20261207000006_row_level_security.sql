-- Row-level security as a second layer under the application's own filters
-- (DESIGN §8): whatever a query forgets, it sees and changes the rows of one
-- organization only, the one set for its transaction with
--   set_config('kpix.organization_id', <uuid>, true)
-- (db::begin). Unset, it sees nothing.
--
-- The processes run their queries as the role kpix_app, which has no
-- BYPASSRLS and owns nothing: with an owner or superuser DATABASE_URL they
-- SET ROLE kpix_app on every connection (db::connect); the migrations run as
-- the connecting user. The owner of the tables is not subject to the
-- policies (no FORCE): the migrations, kpix-demo and the few functions below
-- that map a secret to its organization run as the owner.
-- (an operator without CREATEROLE creates kpix_app beforehand and grants it
-- to the owner: docs/security.md)
do $$
begin
    -- roles are the cluster's: another database's migration may be creating
    -- it at this very moment
    if not exists (select from pg_roles where rolname = 'kpix_app') then
        begin
            create role kpix_app nologin;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;
    -- the connecting user may become kpix_app; it must not be kpix_app, which
    -- would then own the tables and pass the policies
    if current_user = 'kpix_app' then
        raise exception 'migrations must run as the owner of the schema, not as kpix_app';
    end if;
    if not pg_has_role(current_user, 'kpix_app', 'member') then
        execute format('grant kpix_app to %I', current_user);
    end if;
end
$$;

grant usage on schema public to kpix_app;
grant select, insert, update, delete on all tables in schema public to kpix_app;
grant usage, select on all sequences in schema public to kpix_app;
alter default privileges in schema public grant select, insert, update, delete on tables to kpix_app;
alter default privileges in schema public grant usage, select on sequences to kpix_app;

-- the organization of the current transaction; null when none is set
create function kpix_organization() returns uuid language sql stable parallel safe as $$
    select nullif(current_setting('kpix.organization_id', true), '')::uuid
$$;

alter table organization enable row level security;
create policy tenant on organization using (id = kpix_organization());

do $$
declare
    name text;
begin
    foreach name in array array['app_user', 'team', 'team_member', 'dashboard', 'kpi', 'kpi_value',
                                'kpi_latest', 'action_plan', 'comment', 'data_import_job']
    loop
        execute format('alter table %I enable row level security', name);
        execute format('create policy tenant on %I using (organization_id = kpix_organization())', name);
    end loop;
end
$$;

-- rows without their own organization column follow their parent's policy
alter table refresh_token enable row level security;
create policy tenant on refresh_token
    using (exists (select 1 from app_user u where u.id = refresh_token.user_id));
alter table import_job_error enable row level security;
create policy tenant on import_job_error
    using (exists (select 1 from data_import_job j where j.id = import_job_error.job_id));
-- for an administrator of the database, not for the application
alter table out_of_range_row enable row level security;
-- login_throttle is not organization data: its keys are hashes of e-mails and
-- client addresses, and a login counts attempts before any organization is known

-- What must happen before an organization is known: a login finds the account
-- by e-mail, a refresh or a logout the session by its token's hash, the worker
-- the job of a task, the upload sweeper the ended jobs of every organization.
-- Each maps a secret or an id to rows and nothing more; they run as the owner.
create function kpix_user_for_login(p_email text)
returns table (id uuid, organization_id uuid, email text, full_name text, role text, is_active boolean,
               created_at timestamptz, updated_at timestamptz, password_hash text)
language sql stable security definer set search_path = public, pg_temp as $$
    select u.id, u.organization_id, u.email, u.full_name, u.role, u.is_active, u.created_at, u.updated_at,
           u.password_hash
      from app_user u where lower(u.email) = lower(p_email)
$$;

create function kpix_session_organization(p_token_hash bytea) returns uuid
language sql stable security definer set search_path = public, pg_temp as $$
    select u.organization_id from refresh_token t join app_user u on u.id = t.user_id
     where t.token_hash = p_token_hash
$$;

create function kpix_job_organization(p_job_id uuid) returns uuid
language sql stable security definer set search_path = public, pg_temp as $$
    select organization_id from data_import_job where id = p_job_id
$$;

-- row-locked for the caller's transaction (skip locked: sweepers share the work)
create function kpix_ended_uploads(p_retention interval, p_limit integer)
returns table (id uuid, organization_id uuid, storage_key text)
language sql volatile security definer set search_path = public, pg_temp as $$
    select j.id, j.organization_id, j.storage_key from data_import_job j
     where j.storage_key is not null and j.finished_at is not null and j.finished_at <= now() - p_retention
     order by j.finished_at limit p_limit for update skip locked
$$;

revoke execute on function kpix_user_for_login(text), kpix_session_organization(bytea),
    kpix_job_organization(uuid), kpix_ended_uploads(interval, integer) from public;
grant execute on function kpix_user_for_login(text), kpix_session_organization(bytea),
    kpix_job_organization(uuid), kpix_ended_uploads(interval, integer) to kpix_app;
