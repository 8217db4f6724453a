-- Give the current database and every object in it (outside the system schemas and extensions)
-- to the role in the psql variable "owner". Run as postgres, e.g.
--   psql -d pelagia_test -v owner=pelagia_agent -f give-to-owner.sql
-- Says "slipway-changed N" (a NOTICE) when it changed anything.
\set ON_ERROR_STOP on
SELECT set_config('slipway.owner', :'owner', false) \g /dev/null
DO $give$
DECLARE
  target regrole := current_setting('slipway.owner')::regrole;
  r record;
  n integer := 0;
BEGIN
  FOR r IN
    SELECT format('ALTER SCHEMA %I OWNER TO %s', s.nspname, target) AS stmt
      FROM pg_namespace s
     WHERE s.nspname NOT LIKE 'pg\_%' AND s.nspname <> 'information_schema'
       AND s.nspowner NOT IN (target, 'pg_database_owner'::regrole)
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                       AND d.objid = s.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER %s %s OWNER TO %s',
                  CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                 WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                                 ELSE 'TABLE' END,
                  c.oid::regclass, target)
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
     WHERE s.nspname NOT LIKE 'pg\_%' AND s.nspname <> 'information_schema'
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND c.relowner <> target
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')
                                                AND d.refclassid = 'pg_class'::regclass)))
    UNION ALL
    SELECT format('ALTER TYPE %s OWNER TO %s', t.oid::regtype, target)
      FROM pg_type t JOIN pg_namespace s ON s.oid = t.typnamespace
     WHERE s.nspname NOT LIKE 'pg\_%' AND s.nspname <> 'information_schema'
       AND (t.typtype IN ('e', 'd', 'r')
            OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
       AND t.typowner <> target
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                       AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO %s', p.oid::regprocedure, target)
      FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
     WHERE s.nspname NOT LIKE 'pg\_%' AND s.nspname <> 'information_schema'
       AND p.proowner <> target
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                       AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE r.stmt;
    n := n + 1;
  END LOOP;
  IF (SELECT datdba FROM pg_database WHERE datname = current_database()) <> target THEN
    EXECUTE format('ALTER DATABASE %I OWNER TO %s', current_database(), target);
    n := n + 1;
  END IF;
  IF n > 0 THEN
    RAISE NOTICE 'slipway-changed %', n;
  END IF;
END
$give$;
