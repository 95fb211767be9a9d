-- medius logbook, schema version 1.
-- Sensor sets and hand-entered sets are rows of the same tables.

CREATE TABLE exercises (
    id             TEXT PRIMARY KEY,            -- e.g. standing-cable-abduction
    name           TEXT NOT NULL,
    counted_from   TEXT NOT NULL DEFAULT '',    -- 'ankle or pelvis', 'pelvis', '' (by hand)
    rep_min        INTEGER NOT NULL DEFAULT 10 CHECK (rep_min > 0),
    rep_max        INTEGER NOT NULL DEFAULT 20 CHECK (rep_max >= rep_min),
    load_step      REAL,                        -- smallest load increase
    load_step_unit TEXT,                        -- kg, lb, pin, band, ankle-kg
    builtin        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,                   -- 'YYYY-MM-DD HH:MM:SS', local time
    notes      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_started ON sessions(started_at);

CREATE TABLE recordings (
    id             INTEGER PRIMARY KEY,
    path           TEXT NOT NULL,
    sha256         TEXT,
    sensor         TEXT NOT NULL,               -- sim, replay, an address, a file
    sample_rate_hz REAL,
    samples        INTEGER NOT NULL DEFAULT 0,
    samples_lost   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sets (
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
    notes_edited    INTEGER NOT NULL DEFAULT 0, -- the lifter wrote the notes: do not refill
    source          TEXT NOT NULL CHECK (source IN ('sensor', 'manual')),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'discarded')),
    interrupted     INTEGER NOT NULL DEFAULT 0,
    recording_id    INTEGER REFERENCES recordings(id),
    start_s         REAL,                       -- within the recording
    end_s           REAL,
    confidence      REAL,
    performed_at    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    verified_at     TEXT,
    import_key      TEXT UNIQUE                 -- rows brought in from another app
);
CREATE INDEX sets_exercise ON sets(exercise_id, side, performed_at);
CREATE INDEX sets_state ON sets(state);

CREATE TABLE reps (
    id          INTEGER PRIMARY KEY,
    set_id      INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    start_s     REAL NOT NULL,
    end_s       REAL NOT NULL,
    peak_deg    REAL NOT NULL,
    concentric_s REAL NOT NULL,
    pause_s     REAL NOT NULL,
    eccentric_s REAL NOT NULL,
    counted     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (set_id, number)
);

CREATE TABLE flags (
    id        INTEGER PRIMARY KEY,
    rep_id    INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('hip_hike', 'pelvic_drop', 'trunk_sway',
                                            'momentum', 'partial_range', 'hip_flexion_drift')),
    value_deg REAL NOT NULL,
    rate_dps  REAL,
    review    TEXT NOT NULL DEFAULT 'open' CHECK (review IN ('open', 'confirmed', 'dismissed'))
);
CREATE INDEX flags_rep ON flags(rep_id);

INSERT INTO exercises (id, name, counted_from, rep_min, rep_max, load_step, load_step_unit, builtin) VALUES
    ('standing-cable-abduction', 'Standing cable hip abduction', 'ankle or pelvis', 10, 20, 2.5, 'kg', 1),
    ('side-lying-abduction',     'Side-lying hip abduction',     'ankle or pelvis', 10, 20, 0.5, 'ankle-kg', 1),
    ('seated-machine-abduction', 'Seated machine hip abduction', 'ankle',           10, 20, 5.0, 'kg', 1),
    ('hip-hitch',                'Hip hitch',                    'pelvis',          10, 20, 2.0, 'kg', 1),
    ('lateral-step-up',          'Lateral step-up',              'pelvis',          10, 20, 2.0, 'kg', 1),
    ('single-leg-bridge',        'Single-leg bridge',            'pelvis',          10, 20, 5.0, 'kg', 1),
    ('clamshell',                'Clamshell',                    '',                10, 20, 1.0, 'band', 1),
    ('band-walk',                'Band walk',                    '',                10, 20, 1.0, 'band', 1);
