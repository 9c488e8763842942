-- What became of each object, beyond its counts:
--   status 'processed' (its valid trades are stored, its bad lines quarantined),
--          'late' (some valid trades fell in final minutes: counted in `late`, not stored;
--                  `cryptotrades rebuild` folds them in on purpose),
--          'rejected' (refused whole: too large once decompressed, or broken compression;
--                  `reason` says which, the quarantine object holds the record).
-- first/last_trade_time bound its valid trades, so a rebuild finds the objects of a minute.
ALTER TABLE processed_objects
    ADD COLUMN status           VARCHAR(16)   CHARACTER SET ascii   COLLATE ascii_bin   NOT NULL
                                DEFAULT 'processed' COMMENT 'processed | late | rejected',
    ADD COLUMN late             INT           NOT NULL DEFAULT 0
                                COMMENT 'valid trades of final minutes, not stored',
    ADD COLUMN reason           VARCHAR(1000) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
                                COMMENT 'why an object was rejected whole',
    ADD COLUMN first_trade_time BIGINT        NULL COMMENT 'ms: the earliest valid trade',
    ADD COLUMN last_trade_time  BIGINT        NULL COMMENT 'ms: the latest valid trade',
    ADD KEY processed_objects_by_trade_time (last_trade_time);
