-- The test database's own role and production's CONNECT rights. Run as postgres, e.g.
--   psql -d postgres -v agent=pelagia_agent -v prod=pelagia -v proddb=pelagia -v testdb=pelagia_test -f agent-role.sql
-- The role: LOGIN, nothing else, a member of no role. Production: PUBLIC loses CONNECT (the
-- agent's role has none), production's role keeps it. Says "slipway-changed N" (a NOTICE) when it
-- changed anything. The password is set separately (on stdin, never in a file or a command line).
\set ON_ERROR_STOP on
SELECT set_config('slipway.agent', :'agent', false), set_config('slipway.prod', :'prod', false),
       set_config('slipway.proddb', :'proddb', false), set_config('slipway.testdb', :'testdb', false) \g /dev/null
DO $role$
DECLARE
  agent text := current_setting('slipway.agent');
  prod text := current_setting('slipway.prod');
  proddb text := current_setting('slipway.proddb');
  testdb text := current_setting('slipway.testdb');
  r record;
  n integer := 0;
BEGIN
  IF agent = prod THEN
    RAISE EXCEPTION 'the test role and the production role are both %', agent;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_database WHERE datname = proddb) THEN
    RAISE EXCEPTION 'the production database % does not exist', proddb;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_database WHERE datname = testdb) THEN
    RAISE EXCEPTION 'the test database % does not exist', testdb;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = agent) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', agent);
    n := n + 1;
  ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = agent
                AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', agent);
    n := n + 1;
  END IF;
  FOR r IN SELECT m.roleid::regrole AS parent FROM pg_auth_members m WHERE m.member = agent::regrole LOOP
    EXECUTE format('REVOKE %s FROM %I', r.parent, agent);
    n := n + 1;
  END LOOP;
  IF EXISTS (SELECT FROM pg_database WHERE datname = proddb
             AND (datacl IS NULL OR EXISTS (SELECT FROM aclexplode(datacl) a
                                            WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT'))) THEN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', proddb);
    n := n + 1;
  END IF;
  IF NOT has_database_privilege(prod, proddb, 'CONNECT') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', proddb, prod);
    n := n + 1;
  END IF;
  IF has_database_privilege(agent, proddb, 'CONNECT') THEN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', proddb, agent);
    n := n + 1;
  END IF;
  IF has_database_privilege(agent, proddb, 'CONNECT') THEN
    RAISE EXCEPTION 'the role % still has CONNECT on %', agent, proddb;
  END IF;
  IF n > 0 THEN
    RAISE NOTICE 'slipway-changed %', n;
  END IF;
END
$role$;
