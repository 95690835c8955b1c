-- Pruning (issue 14, `claire archive prune`, docs/archive.md "PostgreSQL: what we chose"): the
-- oldest events may leave the hot store once the archive holds them, verified byte for byte.
--
-- The table stays one table. Rows leave it only through claire_prune(), in a transaction that
-- first moves the recorded boundary (claire_pruned, checked by its own trigger: only forward,
-- below the head, naming the hash the store holds there); the delete trigger lets a row go
-- only if it lies at or below the boundary that *this* transaction recorded. Every other
-- DELETE, every UPDATE and every TRUNCATE is refused exactly as before, by whoever runs it.
--
-- What must outlive the pruned rows:
-- 1. every event id ever stored (event_ids, never pruned): an id that lives only in the archive
--    is still refused as a duplicate, and a cause in the archive still satisfies causation_id;
-- 2. how far the store was pruned and the hash there (claire_pruned), so a reader that has no
--    archive configured is refused instead of shown a log that starts in the middle.

-- 1. Every id, as it is stored.
CREATE TABLE event_ids (
    event_id        UUID PRIMARY KEY,
    sequence_number BIGINT NOT NULL
);
INSERT INTO event_ids (event_id, sequence_number) SELECT event_id, sequence_number FROM events;

-- Filled set-based, one INSERT per appended batch (the transition table the chain guard also
-- reads), after the guard (statement triggers fire in name order). A duplicate id, pruned or
-- not, fails here. SECURITY DEFINER: the writer role inserts events but never writes event_ids
-- itself (it could otherwise reserve ids or invent causes).
CREATE FUNCTION events_remember_ids() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO event_ids (event_id, sequence_number)
    SELECT n.event_id, n.sequence_number FROM new_rows n;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION events_remember_ids() FROM PUBLIC;

CREATE TRIGGER events_remember_ids AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_remember_ids();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_remember_ids;

CREATE TRIGGER event_ids_immutable_update BEFORE UPDATE ON event_ids
    FOR EACH ROW EXECUTE FUNCTION prevent_event_modification();
CREATE TRIGGER event_ids_immutable_delete BEFORE DELETE ON event_ids
    FOR EACH ROW EXECUTE FUNCTION prevent_event_modification();
CREATE TRIGGER event_ids_immutable_truncate BEFORE TRUNCATE ON event_ids
    FOR EACH STATEMENT EXECUTE FUNCTION prevent_event_modification();
ALTER TABLE event_ids ENABLE ALWAYS TRIGGER event_ids_immutable_update;
ALTER TABLE event_ids ENABLE ALWAYS TRIGGER event_ids_immutable_delete;
ALTER TABLE event_ids ENABLE ALWAYS TRIGGER event_ids_immutable_truncate;

-- causation_id references every id ever stored, not only the rows still here. Checked at
-- commit: the batch's own ids reach event_ids at the end of its statement (above), so a cause
-- earlier in the same batch is found.
ALTER TABLE events DROP CONSTRAINT events_causation_id_fkey;
ALTER TABLE events ADD CONSTRAINT events_causation_id_fkey
    FOREIGN KEY (causation_id) REFERENCES event_ids(event_id) DEFERRABLE INITIALLY DEFERRED;

-- 2. The boundary: one row, created here at 0 (nothing pruned), only ever moved forward.
CREATE TABLE claire_pruned (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    through     BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    archive_url TEXT,
    -- The transaction that last moved it: the only one whose DELETEs the events trigger allows.
    pruned_by   xid8 NOT NULL
);
INSERT INTO claire_pruned (id, through, hash, archive_url, pruned_by)
VALUES (1, 0, repeat('0', 64), NULL, pg_current_xact_id());

CREATE FUNCTION claire_pruned_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_seq  bigint;
    held_hash text;
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'claire_pruned: only claire_prune() moves the boundary'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.through <= OLD.through THEN
        RAISE EXCEPTION 'cannot prune through %: the store is pruned through % already',
            NEW.through, OLD.through
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Pruning only moves forward.';
    END IF;
    SELECT max(e.sequence_number) INTO head_seq FROM events e;
    IF head_seq IS NULL OR NEW.through >= head_seq THEN
        RAISE EXCEPTION 'cannot prune through %: the head (%) stays in the hot store',
            NEW.through, coalesce(head_seq, 0)
            USING ERRCODE = 'restrict_violation',
                  HINT = 'The chain guard compares every new row with the head.';
    END IF;
    SELECT e.hash INTO held_hash FROM events e WHERE e.sequence_number = NEW.through;
    IF held_hash IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION 'cannot prune through %: its hash is %, the archive''s %',
            NEW.through, coalesce(held_hash, '(no such row)'), NEW.hash
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Prune only what the archive holds byte for byte (claire archive prune).';
    END IF;
    NEW.pruned_by := pg_current_xact_id();
    RETURN NEW;
END;
$$;

CREATE TRIGGER claire_pruned_guard BEFORE INSERT OR UPDATE OR DELETE ON claire_pruned
    FOR EACH ROW EXECUTE FUNCTION claire_pruned_guard();
CREATE TRIGGER claire_pruned_immutable_truncate BEFORE TRUNCATE ON claire_pruned
    FOR EACH STATEMENT EXECUTE FUNCTION prevent_event_modification();
ALTER TABLE claire_pruned ENABLE ALWAYS TRIGGER claire_pruned_guard;
ALTER TABLE claire_pruned ENABLE ALWAYS TRIGGER claire_pruned_immutable_truncate;

-- 3. The delete trigger: refused as before, unless the row lies at or below the boundary this
--    very transaction moved. UPDATE and TRUNCATE keep prevent_event_modification() unchanged.
CREATE FUNCTION events_delete_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM claire_pruned p
               WHERE p.id = 1 AND p.pruned_by = pg_current_xact_id()
                 AND OLD.sequence_number <= p.through) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'Events are immutable'
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new event instead of changing or removing a stored one; '
                     'archived events leave the hot store only through claire archive prune.';
END;
$$;

DROP TRIGGER events_immutable_delete ON events;
CREATE TRIGGER events_immutable_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_delete_guard();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_immutable_delete;

-- Prune: move the boundary (checked above), then remove the rows at or below it. Runs with the
-- caller's rights: only a role that may DELETE from events and UPDATE claire_pruned (the
-- owner) can call it; the writer and reader roles cannot.
CREATE FUNCTION claire_prune(p_through bigint, p_hash text, p_archive_url text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
BEGIN
    UPDATE claire_pruned SET through = p_through, hash = p_hash, archive_url = p_archive_url
    WHERE id = 1;
    DELETE FROM events WHERE sequence_number <= p_through;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$;
REVOKE ALL ON FUNCTION claire_prune(bigint, text, text) FROM PUBLIC;

-- 4. Privileges, as 003_roles.sql: the writer reads event_ids (to name a duplicate or a missing
--    cause) and the boundary; the reader the boundary; the owner role owns the new tables and
--    the definer function. Roles that do not exist are skipped, as in 003.
DO $migration$
DECLARE
    owner_role  text := coalesce(nullif(current_setting('claire.owner_role', true), ''), 'claire_owner');
    writer_role text := coalesce(nullif(current_setting('claire.writer_role', true), ''), 'claire_writer');
    reader_role text := coalesce(nullif(current_setting('claire.reader_role', true), ''), 'claire_reader');
BEGIN
    EXECUTE 'REVOKE ALL ON event_ids, claire_pruned FROM PUBLIC';
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = writer_role) THEN
        EXECUTE format('REVOKE ALL ON event_ids, claire_pruned FROM %I', writer_role);
        EXECUTE format('GRANT SELECT ON event_ids, claire_pruned TO %I', writer_role);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = reader_role) THEN
        EXECUTE format('REVOKE ALL ON event_ids, claire_pruned FROM %I', reader_role);
        EXECUTE format('GRANT SELECT ON claire_pruned TO %I', reader_role);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner_role) THEN
        RAISE NOTICE 'claire: role % does not exist; event_ids and claire_pruned keep their '
            'owner', owner_role;
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
          OR pg_has_role(current_user, owner_role, 'MEMBER') THEN
        EXECUTE format('ALTER TABLE event_ids OWNER TO %I', owner_role);
        EXECUTE format('ALTER TABLE claire_pruned OWNER TO %I', owner_role);
        EXECUTE format('ALTER FUNCTION events_remember_ids() OWNER TO %I', owner_role);
    ELSE
        RAISE NOTICE 'claire: event_ids and claire_pruned keep their owner (role % is not a '
            'member of %)', current_user, owner_role;
    END IF;
END
$migration$;
