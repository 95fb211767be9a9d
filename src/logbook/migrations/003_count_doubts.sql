-- medius logbook, schema version 3: a sensor set keeps why its count may be
-- wrong (a JSON array of the pipeline's doubts: rhythm gaps, unlike reps,
-- weak signal, uncounted movements at its edges), so review can say so and
-- ask for the count first. NULL for hand-entered and older sets.

ALTER TABLE sets ADD COLUMN doubts TEXT;
