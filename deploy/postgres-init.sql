-- First start of the compose database: kpix runs as kpix_owner, which owns
-- the schema (the migrations create it) and acts as kpix_app, the role under
-- row-level security, for every query. Neither is a superuser.
create role kpix_app nologin;
create role kpix_owner login password 'kpix' nosuperuser nocreatedb nocreaterole;
grant kpix_app to kpix_owner;
alter database kpix owner to kpix_owner;
alter schema public owner to kpix_owner;
