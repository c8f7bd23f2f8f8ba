-- Migration: Core application tables

CREATE TYPE job_status AS ENUM ('saved', 'applied', 'interview', 'offer', 'rejected');
CREATE TYPE activity_type AS ENUM ('status_change', 'note');

CREATE TABLE IF NOT EXISTS "userJobs" (
  id SERIAL PRIMARY KEY,
  "userId" TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  status job_status NOT NULL DEFAULT 'saved'
);

CREATE TABLE IF NOT EXISTS "jobActivities" (
  id SERIAL PRIMARY KEY,
  "jobId" INTEGER NOT NULL REFERENCES "userJobs"(id) ON DELETE CASCADE,
  type activity_type NOT NULL,
  "createdAt" TIMESTAMP NOT NULL DEFAULT now()
);
