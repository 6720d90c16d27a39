-- Process names are compared ignoring case and accents ("qualite" finds
-- "Qualité"), as import headers are. unaccent ships with PostgreSQL's
-- contrib modules (in Debian's postgresql package and the official images)
-- and is a trusted extension: a database owner may create it.
create extension if not exists unaccent with schema public;

-- unaccent is only STABLE (its dictionary could change); naming the
-- dictionary makes the fold IMMUTABLE, so it may serve in an index if a
-- filter ever needs one.
create or replace function kpix_fold(text) returns text
    language sql immutable parallel safe strict
    as $$ select lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;
