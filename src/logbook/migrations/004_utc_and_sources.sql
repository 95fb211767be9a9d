-- medius logbook, schema version 4.
--
-- Times are instants in UTC ('YYYY-MM-DDTHH:MM:SSZ', so they sort as time
-- does across midnight, DST changes and travel) with the offset from UTC
-- they were recorded at; versions 1-3 stored the local time of the machine.
-- Those are read as local time of the machine that migrates (where they
-- were written), each with the offset in force on its own day.
--
-- A set says where it came from: 'sensor', 'sim' (the simulator), 'replay'
-- (a recording played back) or 'manual'. Older sensor sets whose recording
-- was the simulator or a replay are marked so; a set saved with no
-- recording (--no-record) cannot be told apart and stays 'sensor'.
--
-- A timed set (a plank) keeps its duration; a session keeps its end, so a
-- workout has one start and one duration. Run with foreign keys off (the
-- sets table is rebuilt: SQLite cannot change a CHECK in place).

CREATE TABLE sets_v4 (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    exercise_id     TEXT NOT NULL REFERENCES exercises(id),
    variation       TEXT NOT NULL DEFAULT '',
    side            TEXT CHECK (side IN ('left', 'right')),
    placement       TEXT CHECK (placement IN ('ankle', 'pelvis')),
    load_value      REAL,
    load_unit       TEXT,                       -- kg, lb, pin, band, ankle-kg, bodyweight
    load_label      TEXT,                       -- band colour
    reps            INTEGER NOT NULL CHECK (reps >= 0),
    rir             INTEGER CHECK (rir >= 0),
    tempo           TEXT,
    technique_notes TEXT NOT NULL DEFAULT '',
    side_notes      TEXT NOT NULL DEFAULT '',
    notes_edited    INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL CHECK (source IN ('sensor', 'sim', 'replay', 'manual')),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'discarded')),
    interrupted     INTEGER NOT NULL DEFAULT 0,
    recording_id    INTEGER REFERENCES recordings(id),
    start_s         REAL,
    end_s           REAL,
    confidence      REAL,
    performed_at    TEXT NOT NULL,              -- UTC instant
    created_at      TEXT NOT NULL,              -- UTC instant
    verified_at     TEXT,                       -- UTC instant
    import_key      TEXT UNIQUE,
    doubts          TEXT,
    utc_offset_s    INTEGER NOT NULL DEFAULT 0, -- where performed_at was recorded
    duration_s      REAL                        -- a timed set (plank): how long it was held
);

INSERT INTO sets_v4 (id, session_id, exercise_id, variation, side, placement, load_value, load_unit,
                     load_label, reps, rir, tempo, technique_notes, side_notes, notes_edited, source,
                     state, interrupted, recording_id, start_s, end_s, confidence, performed_at,
                     created_at, verified_at, import_key, doubts, utc_offset_s, duration_s)
SELECT s.id, s.session_id, s.exercise_id, s.variation, s.side, s.placement, s.load_value, s.load_unit,
       s.load_label, s.reps, s.rir, s.tempo, s.technique_notes, s.side_notes, s.notes_edited,
       CASE
           WHEN s.source = 'sensor' AND r.sensor = 'sim' THEN 'sim'
           WHEN s.source = 'sensor' AND r.sensor LIKE 'replay:%' THEN 'replay'
           ELSE s.source
       END,
       s.state, s.interrupted, s.recording_id, s.start_s, s.end_s, s.confidence,
       coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', s.performed_at, 'utc'), s.performed_at),
       coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', s.created_at, 'utc'), s.created_at),
       strftime('%Y-%m-%dT%H:%M:%SZ', s.verified_at, 'utc'),
       s.import_key, s.doubts,
       coalesce(CAST(strftime('%s', s.performed_at) AS INTEGER)
                - CAST(strftime('%s', s.performed_at, 'utc') AS INTEGER), 0),
       NULL
  FROM sets s LEFT JOIN recordings r ON r.id = s.recording_id;

DROP TABLE sets;
ALTER TABLE sets_v4 RENAME TO sets;
CREATE INDEX sets_exercise ON sets(exercise_id, side, performed_at);
CREATE INDEX sets_state ON sets(state);
CREATE INDEX sets_session ON sets(session_id);
CREATE INDEX sets_performed ON sets(performed_at);

ALTER TABLE sessions ADD COLUMN ended_at TEXT;                       -- UTC instant
ALTER TABLE sessions ADD COLUMN utc_offset_s INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET
    utc_offset_s = coalesce(CAST(strftime('%s', started_at) AS INTEGER)
                            - CAST(strftime('%s', started_at, 'utc') AS INTEGER), 0),
    started_at = coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', started_at, 'utc'), started_at);
-- A session ends with its last set (a sensor set lasts end_s - start_s).
UPDATE sessions SET ended_at = coalesce(
    (SELECT max(strftime('%Y-%m-%dT%H:%M:%SZ', s.performed_at,
                         '+' || CAST(max(0, coalesce(s.end_s - s.start_s, 0)) AS INTEGER) || ' seconds'))
       FROM sets s WHERE s.session_id = sessions.id),
    started_at);

UPDATE recordings SET started_at = strftime('%Y-%m-%dT%H:%M:%SZ', started_at, 'utc')
 WHERE started_at IS NOT NULL;
