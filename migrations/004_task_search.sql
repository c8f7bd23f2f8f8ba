-- Migration: task search
-- Full-text search over task titles, kept up to date by a generated column.

ALTER TABLE tasks
  ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED;

CREATE INDEX tasks_search ON tasks USING gin (search);
