-- The journal: every action opsdeck runs, who ran it, where, with what (secrets masked),
-- and how it ended. Append-only: rows are never deleted, and a finished entry never changes.
CREATE TABLE actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    host        TEXT,
    app         TEXT,
    actor       TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running',
    error       TEXT
);
CREATE INDEX actions_app ON actions(app, started_at);
CREATE INDEX actions_started ON actions(started_at);

CREATE TABLE steps (
    action_id   INTEGER NOT NULL REFERENCES actions(id),
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running',
    output      TEXT,
    PRIMARY KEY (action_id, seq)
);

CREATE TRIGGER actions_no_delete BEFORE DELETE ON actions
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER actions_finished_is_final BEFORE UPDATE ON actions
WHEN OLD.outcome <> 'running'
BEGIN SELECT RAISE(ABORT, 'a finished journal entry cannot change'); END;
CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER steps_finished_is_final BEFORE UPDATE ON steps
WHEN OLD.outcome <> 'running'
BEGIN SELECT RAISE(ABORT, 'a finished journal step cannot change'); END;
