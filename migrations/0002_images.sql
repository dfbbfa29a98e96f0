-- The images each service of an app ran, as a deploy or rollback saw them: before it changed
-- anything, and once every service was healthy. A rollback to a version redeploys the image
-- recorded for it (by registry digest), even if its tag was moved since.
CREATE TABLE images (
    action_id   INTEGER NOT NULL REFERENCES actions(id),
    app         TEXT NOT NULL,
    service     TEXT NOT NULL,
    version     TEXT NOT NULL,
    -- The reference compose ran (repo:tag).
    reference   TEXT NOT NULL,
    -- The image's own id (sha256 of its config).
    image_id    TEXT NOT NULL,
    -- repo@sha256:... when the image came from a registry.
    digest      TEXT,
    seen_at     TEXT NOT NULL
);
CREATE INDEX images_app ON images(app, version, seen_at);

CREATE TRIGGER images_no_delete BEFORE DELETE ON images
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER images_no_update BEFORE UPDATE ON images
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
