-- SQLite twin of sql/mysql/007: what became of each object.
ALTER TABLE processed_objects ADD COLUMN status TEXT NOT NULL DEFAULT 'processed';
ALTER TABLE processed_objects ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE processed_objects ADD COLUMN reason TEXT NULL;
ALTER TABLE processed_objects ADD COLUMN first_trade_time INTEGER NULL;
ALTER TABLE processed_objects ADD COLUMN last_trade_time INTEGER NULL;
CREATE INDEX IF NOT EXISTS processed_objects_by_trade_time ON processed_objects (last_trade_time);
