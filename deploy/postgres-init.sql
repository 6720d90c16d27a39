-- First start of the compose database: kpix runs as kpix_owner, which owns
-- the schema (the migrations create it) and acts as kpix_app, the role under
-- row-level security, for every query. Neither is a superuser.
-- kpix_owner's password is KPIX_DB_PASSWORD when set (psql 15's \getenv),
-- else 'kpix'.
\getenv kpix_owner_password KPIX_DB_PASSWORD
\if :{?kpix_owner_password}
\else
\set kpix_owner_password kpix
\endif
create role kpix_app nologin;
create role kpix_owner login password :'kpix_owner_password' nosuperuser nocreatedb nocreaterole;
grant kpix_app to kpix_owner;
alter database kpix owner to kpix_owner;
alter schema public owner to kpix_owner;
