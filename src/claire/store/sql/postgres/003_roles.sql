-- Least privilege. Three roles (cluster-wide, so created once and reused by every database):
--   claire_owner   NOLOGIN: owns the tables (only it, or a superuser, can alter or disable them)
--   claire_writer  LOGIN:   SELECT and INSERT on events (the service and the ingest worker)
--   claire_reader  LOGIN:   SELECT on events (the API's read paths, auditors)
-- Names can be changed for a cluster at migration time, e.g.
--   PGOPTIONS="-c claire.owner_role=x -c claire.writer_role=y -c claire.reader_role=z" claire db migrate
-- Roles get no password here: set one with ALTER ROLE claire_writer PASSWORD '...'.
--
-- Where the connecting role may not create roles, the roles that already exist still get their
-- grants, and whatever cannot be done is skipped with a NOTICE, so the migration never fails for
-- lack of privilege. Safe to run while another database of the same cluster runs it too.
DO $migration$
DECLARE
    owner_role  text := coalesce(nullif(current_setting('claire.owner_role', true), ''), 'claire_owner');
    writer_role text := coalesce(nullif(current_setting('claire.writer_role', true), ''), 'claire_writer');
    reader_role text := coalesce(nullif(current_setting('claire.reader_role', true), ''), 'claire_reader');
    me          pg_roles%ROWTYPE;
    missing     text[] := '{}';
    spec        text[];
BEGIN
    SELECT * INTO me FROM pg_roles WHERE rolname = current_user;

    -- 1. The roles, unless they exist (perhaps made by another database's migration just now).
    FOREACH spec SLICE 1 IN ARRAY ARRAY[
        ARRAY[owner_role, 'NOLOGIN'],
        ARRAY[writer_role, 'LOGIN'],
        ARRAY[reader_role, 'LOGIN']
    ] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = spec[1]) THEN
            IF me.rolsuper OR me.rolcreaterole THEN
                BEGIN
                    EXECUTE format('CREATE ROLE %I %s', spec[1], spec[2]);
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created concurrently by another database's migration: fine
                END;
            ELSE
                missing := missing || spec[1];
            END IF;
        END IF;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE NOTICE 'claire: role % may not create roles and % do not exist; least-privilege '
            'roles skipped (run `claire db migrate` once as a role with CREATEROLE)',
            current_user, array_to_string(missing, ', ');
        RETURN;
    END IF;

    -- 2. Exactly the privileges each role needs on the tables (REVOKE first: roles reused from
    --    elsewhere must not bring more).
    EXECUTE format('REVOKE ALL ON events, claire_schema_migrations FROM PUBLIC, %I, %I',
                   writer_role, reader_role);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I', current_schema(), writer_role, reader_role);
    EXECUTE format('GRANT SELECT, INSERT ON events TO %I', writer_role);
    EXECUTE format('GRANT SELECT ON events TO %I', reader_role);
    -- Opening the store checks which migrations are applied.
    EXECUTE format('GRANT SELECT ON claire_schema_migrations TO %I, %I', writer_role, reader_role);

    -- 3. The owner role owns the tables. A non-superuser must be a member of it to hand them
    --    over (and keeps owner rights through the membership, so later migrations still run).
    IF NOT me.rolsuper AND NOT pg_has_role(current_user, owner_role, 'MEMBER') THEN
        IF me.rolcreaterole THEN
            EXECUTE format('GRANT %I TO %I', owner_role, current_user);
        ELSE
            RAISE NOTICE 'claire: role % is not a member of %; the tables keep their owner',
                current_user, owner_role;
            RETURN;
        END IF;
    END IF;
    EXECUTE format('ALTER TABLE events OWNER TO %I', owner_role);
    EXECUTE format('ALTER TABLE claire_schema_migrations OWNER TO %I', owner_role);
END
$migration$;

-- Whoever owns them, the immutability triggers fire always, replication mode included.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_update;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_truncate;
