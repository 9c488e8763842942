-- The ledger: one row per S3 object version processed. Its key makes a repeated
-- S3 event a no-op; its counts say what each object held.
CREATE TABLE IF NOT EXISTS processed_objects (
    object_id       CHAR(64)      NOT NULL COMMENT 'sha256 of bucket, key and etag',
    bucket          VARCHAR(255)  NOT NULL,
    object_key      VARCHAR(1024) NOT NULL,
    etag            VARCHAR(128)  NOT NULL,
    line_count      INT           NOT NULL,
    accepted        INT           NOT NULL COMMENT 'lines that are valid trades',
    rejected        INT           NOT NULL COMMENT 'lines quarantined with a reason',
    duplicates      INT           NOT NULL COMMENT 'valid trades already stored',
    minutes         INT           NOT NULL COMMENT 'minute rows recomputed',
    quarantine_key  VARCHAR(1100) NULL,
    redeliveries    INT           NOT NULL DEFAULT 0 COMMENT 'repeated events, ignored',
    processed_at    DATETIME(3)   NOT NULL,
    PRIMARY KEY (object_id),
    KEY processed_objects_by_time (processed_at)
) ENGINE = InnoDB;
