-- medius logbook, schema version 2: a recording remembers what was trained
-- and whether it was closed cleanly, so that sets still open when the
-- daemon died can be recovered from the raw samples on the next start.

ALTER TABLE recordings ADD COLUMN exercise_id TEXT;
ALTER TABLE recordings ADD COLUMN placement TEXT;
ALTER TABLE recordings ADD COLUMN side TEXT;
ALTER TABLE recordings ADD COLUMN load_value REAL;
ALTER TABLE recordings ADD COLUMN load_unit TEXT;
ALTER TABLE recordings ADD COLUMN load_label TEXT;
ALTER TABLE recordings ADD COLUMN started_at TEXT;
-- Recordings from version 1 were all written by complete runs or imports.
ALTER TABLE recordings ADD COLUMN closed INTEGER NOT NULL DEFAULT 1;
