-- Migration: create tasks
-- Tasks move through a fixed set of states; done_at is set when they finish.

CREATE TYPE task_state AS ENUM ('todo', 'doing', 'done');

CREATE TABLE tasks (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  title       text NOT NULL,
  state       task_state NOT NULL DEFAULT 'todo',
  done_at     timestamptz,
  CHECK ((state = 'done') = (done_at IS NOT NULL))
);

CREATE INDEX tasks_open ON tasks (project_id) WHERE state <> 'done';
