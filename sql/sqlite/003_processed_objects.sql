-- SQLite twin of sql/mysql/003: the ledger of processed S3 objects.
CREATE TABLE IF NOT EXISTS processed_objects (
    object_id       TEXT    NOT NULL PRIMARY KEY, -- sha256 of bucket, key and etag
    bucket          TEXT    NOT NULL,
    object_key      TEXT    NOT NULL,
    etag            TEXT    NOT NULL,
    line_count      INTEGER NOT NULL,
    accepted        INTEGER NOT NULL,
    rejected        INTEGER NOT NULL,
    duplicates      INTEGER NOT NULL,
    minutes         INTEGER NOT NULL,
    quarantine_key  TEXT    NULL,
    redeliveries    INTEGER NOT NULL DEFAULT 0,
    processed_at    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS processed_objects_by_time ON processed_objects (processed_at);
