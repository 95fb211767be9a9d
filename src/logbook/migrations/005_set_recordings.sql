-- medius logbook, schema version 5: a set may come from more than one raw
-- recording. With two sensors (the ankle counts, the pelvis judges hike,
-- drop and sway) each sensor keeps its own CSV, and a set is linked to both.
-- `sets.recording_id` stays the recording the set was counted from (crash
-- recovery and `import` find sets by it); `set_recordings` lists every
-- recording a set was judged from, with the sensor's placement.

CREATE TABLE set_recordings (
    set_id       INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
    recording_id INTEGER NOT NULL REFERENCES recordings(id),
    placement    TEXT NOT NULL CHECK (placement IN ('ankle', 'pelvis')),
    PRIMARY KEY (set_id, recording_id)
);
CREATE INDEX set_recordings_recording ON set_recordings(recording_id);

-- Every existing sensor set is linked to the one recording it came from.
INSERT INTO set_recordings (set_id, recording_id, placement)
SELECT s.id, s.recording_id, coalesce(s.placement, r.placement, 'ankle')
  FROM sets s JOIN recordings r ON r.id = s.recording_id
 WHERE s.recording_id IS NOT NULL;
